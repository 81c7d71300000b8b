/** Tensor files: Hugging Face safetensors, read by memory map and written atomically. */
package dev.cria.engine.io;
