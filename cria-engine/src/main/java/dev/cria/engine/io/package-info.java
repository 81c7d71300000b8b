/**
 * Tensor files: Hugging Face safetensors, read by memory map and written atomically; and {@link
 * dev.cria.engine.io.SliceCopy}, which cuts a tensor-parallel slice out of whole tensors as a
 * checkpoint or a Hugging Face model holds them, and puts it back. Host memory, by nature.
 */
package dev.cria.engine.io;
