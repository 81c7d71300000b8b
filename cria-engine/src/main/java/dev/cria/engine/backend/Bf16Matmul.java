package dev.cria.engine.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

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

  /** The square product {@link #measurePeakGflops} times: {@value #PEAK_SIZE} on each side. */
  int PEAK_SIZE = 2048;

  /**
   * Its best rate in billions of FLOP/s on a square bf16 product of {@value #PEAK_SIZE} (fp32
   * result), over about {@code seconds} after one untimed call: the peak a bf16 run's MFU is
   * relative to, as the FMA loop is for fp32. A library's best GEMM, so a lower bound on what the
   * hardware could do.
   */
  default double measurePeakGflops(double seconds) {
    long n = PEAK_SIZE;
    try (Arena arena = Arena.ofShared()) { // a product may read on several threads
      MemorySegment a = arena.allocate(n * n * 2, 64);
      MemorySegment b = arena.allocate(n * n * 2, 64);
      MemorySegment c = arena.allocate(n * n * 4, 64);
      for (long i = 0; i < n * n; i++) {
        short one = (short) (0x3f80 + (i % 7)); // 1 and a little more: no zeros, no subnormals
        a.setAtIndex(ValueLayout.JAVA_SHORT, i, one);
        b.setAtIndex(ValueLayout.JAVA_SHORT, i, one);
      }
      GemmShape shape = new GemmShape(false, false, PEAK_SIZE, PEAK_SIZE, PEAK_SIZE);
      multiply(shape, a, 0, b, 0, c, 0, false);
      double best = 0;
      long end = System.nanoTime() + (long) (seconds * 1e9);
      do {
        long t0 = System.nanoTime();
        multiply(shape, a, 0, b, 0, c, 0, false);
        best = Math.max(best, 2.0 * n * n * n / (System.nanoTime() - t0));
      } while (System.nanoTime() < end);
      return best;
    }
  }

  /** Frees what it holds (native primitives, scratch). */
  @Override
  void close();
}
