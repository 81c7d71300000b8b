package dev.cria.engine.cpu;

import dev.cria.engine.backend.Bf16Matmul;
import dev.cria.engine.backend.GemmShape;
import java.lang.foreign.MemorySegment;

/**
 * The bf16 product where no native library runs: both operands widened to fp32 (exactly) into
 * scratch, then {@link Gemm}'s fp32 product. The sums are fp32 as in oneDNN, so the two differ only
 * in the order of the additions; the speed is the fp32 GEMM's plus the widening.
 */
final class JavaBf16Matmul implements Bf16Matmul {
  private final Parallel parallel;
  private final String reason;
  private final GrowingSegment a = new GrowingSegment();
  private final GrowingSegment b = new GrowingSegment();

  /**
   * @param reason why this one runs rather than a native library, for {@link #description()}
   */
  JavaBf16Matmul(Parallel parallel, String reason) {
    this.parallel = parallel;
    this.reason = reason;
  }

  /**
   * NaN: this product multiplies in fp32 on cria's GEMM, so what bounds it is the FMA peak, which a
   * run's MFU is then relative to ({@link dev.cria.engine.backend.Peak} falls back to it). Timing
   * this product instead, at a run's start before the JIT has compiled it, gave a peak so low that
   * MFU read above 100%.
   */
  @Override
  public double measurePeakGflops(double seconds) {
    return Double.NaN;
  }

  @Override
  public String description() {
    return "java (bf16 widened to fp32 for cria's GEMM; " + reason + ")";
  }

  @Override
  public void multiply(
      GemmShape shape,
      MemorySegment aBf16,
      long aOff,
      MemorySegment bBf16,
      long bOff,
      MemorySegment c,
      long cOff,
      boolean accumulate) {
    long aCount = (long) shape.m() * shape.k();
    long bCount = (long) shape.k() * shape.n();
    MemorySegment aWide = a.atLeast(aCount * Float.BYTES);
    MemorySegment bWide = b.atLeast(bCount * Float.BYTES);
    Bf16Vectors.widen(parallel, aWide, 0, aBf16, aOff, aCount);
    Bf16Vectors.widen(parallel, bWide, 0, bBf16, bOff, bCount);
    Gemm.sgemm(
        parallel,
        shape.transA(),
        shape.transB(),
        shape.m(),
        shape.n(),
        shape.k(),
        1f,
        aWide,
        0,
        shape.transA() ? shape.m() : shape.k(),
        bWide,
        0,
        shape.transB() ? shape.k() : shape.n(),
        accumulate ? 1f : 0f,
        c,
        cOff,
        shape.n());
  }

  @Override
  public void close() {
    a.close();
    b.close();
  }
}
