/**
 * Megatron's memory-mapped indexed dataset ({@code MMIDIDX} version 1): a {@code .bin} of token ids
 * back to back and an {@code .idx} of sequence sizes, byte offsets and document boundaries. Byte
 * compatible with Megatron-LM and NeMo.
 */
package dev.cria.data.indexed;
