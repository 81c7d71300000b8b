/**
 * Everything that turns text into training data: tokenizers ({@code tokenizer}), Megatron's mmap
 * indexed dataset ({@code indexed}) and the {@code prepare} pipeline that connects them.
 */
package dev.cria.data;
