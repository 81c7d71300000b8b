package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** Adding a peer's floats into a buffer: the same sums as a plain loop, vector or not. */
class HostSumTest {
  @Test
  void theSumsAreAPlainLoopsAtAnyOffsetAndLength() {
    try (Arena arena = Arena.ofConfined()) {
      for (int n : new int[] {0, 1, 3, 16, 17, 64, 101}) {
        float[] a = TestFloats.random(n, 200);
        float[] b = TestFloats.random(n + 1, 300);
        MemorySegment dst = arena.allocate(4L * (200 + 8));
        MemorySegment src = arena.allocate(4L * (200 + 8));
        MemorySegment.copy(a, 0, dst, ValueLayout.JAVA_FLOAT, 4, 200);
        MemorySegment.copy(b, 0, src, ValueLayout.JAVA_FLOAT, 12, 200);
        HostSum.add(dst, 4 + 8, src, 12 + 16, 4L * n);
        float[] got = new float[200];
        MemorySegment.copy(dst, ValueLayout.JAVA_FLOAT, 4, got, 0, 200);
        for (int i = 0; i < 200; i++) {
          float expected = i >= 2 && i < 2 + n ? a[i] + b[i + 2] : a[i];
          assertThat(got[i]).as("n %d, element %d", n, i).isEqualTo(expected);
        }
      }
    }
  }
}
