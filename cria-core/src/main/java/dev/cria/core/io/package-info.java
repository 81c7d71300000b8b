/**
 * Crash-safe file writes for every module: a temporary sibling, fsynced, renamed over the target,
 * the directory fsynced. The one implementation of atomic writes in cria.
 */
package dev.cria.core.io;
