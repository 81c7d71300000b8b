/**
 * Everything that turns text into training data: tokenizers ({@code tokenizer}), Megatron's mmap
 * indexed dataset ({@code indexed}), the {@code prepare} pipeline that connects them, and
 * Megatron-Core's sample order with the global batches built from it ({@code gpt}).
 */
package dev.cria.data;
