package dev.cria.engine.backend;

import java.lang.foreign.MemorySegment;

/**
 * Matrix products of bf16 operands into fp32, {@code C[m,n] (+)= op(A)[m,k] op(B)[k,n]}, each
 * product of two bf16 values exact in fp32 and the sums taken in fp32: the GEMM of mixed precision.
 * Operands are dense and row-major as {@link GemmShape} says ({@code A} is {@code k x m} when
 * {@code transA}, {@code B} is {@code n x k} when {@code transB}); offsets count elements (bf16 for
 * A and B, floats for C). Implementations: oneDNN through FFM ({@code cria-onednn}, found by {@link
 * Bf16MatmulProvider}) and a Java one on the CPU backend's own GEMM.
 *
 * <p>Not for several threads at once: a model's kernels call it from one thread.
 */
public interface Bf16Matmul extends AutoCloseable {

  /** What it is, for logs: {@code oneDNN 3.11.0 (OpenMP, 2 threads)}. */
  String description();

  /**
   * {@code C = op(A) op(B)}, or {@code C += op(A) op(B)} with {@code accumulate}.
   *
   * @param a bf16, {@code m x k} ({@code k x m} when transposed)
   * @param b bf16, {@code k x n} ({@code n x k} when transposed)
   * @param c fp32, {@code m x n}
   */
  void multiply(
      GemmShape shape,
      MemorySegment a,
      long aOff,
      MemorySegment b,
      long bOff,
      MemorySegment c,
      long cOff,
      boolean accumulate);

  /** Frees what it holds (native primitives, scratch). */
  @Override
  void close();
}
