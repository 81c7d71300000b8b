/**
 * Checksums of files and bytes (CRC-32C), for checkpoint manifests and anything else that checks
 * files.
 */
package dev.cria.core.checksum;
