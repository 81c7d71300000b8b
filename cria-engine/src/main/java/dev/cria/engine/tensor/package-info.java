/**
 * Off-heap tensors addressed by {@code long} element offsets (models beyond 2^31 floats): fp32
 * buffers ({@link dev.cria.engine.tensor.Floats}), bf16 values ({@link
 * dev.cria.engine.tensor.Bf16}), and the {@link dev.cria.engine.tensor.View}s that kernels take: a
 * buffer, an offset and the {@link dev.cria.engine.tensor.DType} the offset counts in.
 */
package dev.cria.engine.tensor;
