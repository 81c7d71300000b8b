package dev.cria.engine.backend;

import dev.cria.engine.tensor.DType;

/**
 * What MFU is relative to, measured on the backend's threads as a run or a benchmark starts (a
 * benchmark measures again when it ends and keeps the {@link #higher} of the two): for fp32 the FMA
 * loop's rate ({@link Backend#measurePeakGflops}); for products in bf16 the bf16 product's best
 * rate ({@link Backend#measureBf16PeakGflops}), or the FMA loop's where the backend has no bf16
 * product of its own.
 *
 * @param gflops the rate, billions of FLOP/s, above 0
 * @param of what was measured, as the lines that report MFU name it ({@code the fp32 FMA peak})
 */
public record Peak(double gflops, String of) {
  public Peak {
    if (!(gflops > 0) || Double.isInfinite(gflops)) {
      throw new IllegalArgumentException("a peak must be a positive rate, got " + gflops);
    }
    java.util.Objects.requireNonNull(of, "of");
  }

  /**
   * The higher of two measurements of the same peak: a peak is a best rate, and on a shared machine
   * one measurement may fall in a slow moment (a benchmark's MFU then passes 100%).
   */
  public Peak higher(Peak other) {
    if (!of.equals(other.of)) {
      throw new IllegalArgumentException("two different peaks: " + of + " and " + other.of);
    }
    return other.gflops > gflops ? other : this;
  }

  /** Measures the peak of {@code backend} for linear layers that multiply in {@code products}. */
  public static Peak measure(Backend backend, DType products, double seconds) {
    if (products == DType.BF16) {
      double bf16 = backend.measureBf16PeakGflops(seconds);
      if (bf16 > 0 && !Double.isInfinite(bf16)) {
        return new Peak(bf16, "the bf16 product's peak");
      }
    }
    return new Peak(backend.measurePeakGflops(seconds), "the fp32 FMA peak");
  }
}
