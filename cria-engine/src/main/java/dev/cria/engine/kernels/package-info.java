/**
 * The numeric kernels of training, forward and backward, behind {@link dev.cria.engine.kernels.Kernels}:
 * {@link dev.cria.engine.kernels.ReferenceKernels} is the plain, obviously-correct twin of every
 * kernel; {@link dev.cria.engine.kernels.CpuKernels} is the fast one (Vector API, all cores, a
 * cache-blocked GEMM). Tests compare the two kernel by kernel and model against model.
 *
 * <p>Every buffer is a {@link java.lang.foreign.MemorySegment} of native-order floats addressed by
 * {@code long} element offsets. Shapes use N = tokens in the micro-batch (batch x seq), D = model
 * width, H/KVH = query/key-value heads, hd = head size, F = MLP width, V = vocabulary.
 */
package dev.cria.engine.kernels;
