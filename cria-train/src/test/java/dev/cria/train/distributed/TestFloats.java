package dev.cria.train.distributed;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

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
}
