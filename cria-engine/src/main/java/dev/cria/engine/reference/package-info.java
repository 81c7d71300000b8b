/**
 * The reference backend: every kernel as a plain, single-threaded loop ({@link
 * dev.cria.engine.reference.ReferenceKernels}), the twin that the fast kernels are tested against
 * kernel by kernel and model against model.
 */
package dev.cria.engine.reference;
