package dev.cria.train.distributed;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.function.IntFunction;

/** Float buffers for the collectives' tests: seeded values, into and out of off-heap segments. */
final class TestFloats {
  private TestFloats() {}

  /** {@code count} values in [-1, 1) from {@code seed}. */
  static float[] random(long seed, int count) {
    SplittableRandom random = new SplittableRandom(seed);
    float[] x = new float[count];
    for (int i = 0; i < count; i++) {
      x[i] = (float) random.nextDouble(-1, 1);
    }
    return x;
  }

  /** A 64-byte aligned segment holding {@code values} (at least one byte). */
  static MemorySegment segment(Arena arena, float[] values) {
    MemorySegment s = arena.allocate(Math.max(1, (long) values.length * Float.BYTES), 64);
    MemorySegment.copy(values, 0, s, ValueLayout.JAVA_FLOAT, 0, values.length);
    return s;
  }

  /** The first {@code count} floats of {@code s}. */
  static float[] floats(MemorySegment s, int count) {
    float[] out = new float[count];
    MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, 0, out, 0, count);
    return out;
  }

  /** The element-wise sums, in double, of {@code world} ranks' values {@code ofRank.apply(r)}. */
  static double[] sums(int world, int count, IntFunction<float[]> ofRank) {
    double[] sums = new double[count];
    for (int r = 0; r < world; r++) {
      float[] x = ofRank.apply(r);
      for (int i = 0; i < count; i++) {
        sums[i] += x[i];
      }
    }
    return sums;
  }

  /**
   * Fails, naming {@code what} and the element, unless {@code got[from, to)} is within 1e-5 of
   * {@code expected} (a loop rather than an assertion per element: these run to a million).
   */
  static void assertSums(String what, float[] got, double[] expected, long from, long to) {
    for (long i = from; i < to; i++) {
      if (Math.abs(got[(int) i] - expected[(int) i]) > 1e-5) {
        throw new AssertionError(
            what + ", element " + i + ": " + got[(int) i] + " vs " + expected[(int) i]);
      }
    }
  }
}
