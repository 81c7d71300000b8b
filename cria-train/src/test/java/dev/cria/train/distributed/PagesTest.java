package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class PagesTest {
  private static final long MIB = 1 << 20;

  @Test
  void aReleasedRangeReadsAsZerosAndItsWholePagesLeaveMemory() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(16 * MIB, 64);
      s.fill((byte) 7);
      assertThat(Pages.resident(s)).isGreaterThanOrEqualTo(16 * MIB);
      long from = MIB + 13; // neither end on a page boundary
      long to = 13 * MIB + 5;
      Pages.release(s, from, to);
      if (Pages.releases()) {
        // asked before anything reads the range (a read maps the zero page back in)
        assertThat(Pages.resident(s))
            .isLessThanOrEqualTo(16 * MIB - (to - from) + 4 * 4096); // partial pages count whole
      }
      assertThat(s.get(ValueLayout.JAVA_BYTE, from - 1)).isEqualTo((byte) 7);
      assertThat(s.get(ValueLayout.JAVA_BYTE, to)).isEqualTo((byte) 7);
      for (long i = from; i < to; i += 997) {
        assertThat(s.get(ValueLayout.JAVA_BYTE, i)).as("byte %d", i).isZero();
      }
      assertThat(s.get(ValueLayout.JAVA_BYTE, from)).isZero();
      assertThat(s.get(ValueLayout.JAVA_BYTE, to - 1)).isZero();
      s.set(ValueLayout.JAVA_BYTE, from + MIB, (byte) 3); // usable again
      assertThat(s.get(ValueLayout.JAVA_BYTE, from + MIB)).isEqualTo((byte) 3);
    }
  }

  @Test
  void aRangeInsideOnePageIsOnlyZeroed() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(3 * 4096, 4096);
      s.fill((byte) 1);
      Pages.release(s, 4096 + 10, 4096 + 20);
      for (long i = 0; i < s.byteSize(); i++) {
        assertThat(s.get(ValueLayout.JAVA_BYTE, i))
            .isEqualTo(i >= 4096 + 10 && i < 4096 + 20 ? (byte) 0 : (byte) 1);
      }
      Pages.release(s, 5, 5); // empty
      assertThat(s.get(ValueLayout.JAVA_BYTE, 5)).isEqualTo((byte) 1);
      assertThatThrownBy(() -> Pages.release(s, 10, 3 * 4096 + 1))
          .isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void aRangeOutsideTheSegmentIsRefusedNamingIt() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(100);
      for (long[] r : new long[][] {{-1, 10}, {20, 10}, {0, 101}}) {
        assertThatThrownBy(() -> Pages.release(s, r[0], r[1]))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessage("bytes [" + r[0] + ", " + r[1] + ") of a segment of 100");
      }
      Pages.release(s, 0, 100);
      Pages.release(s, 100, 100);
      assertThat(Pages.resident(arena.allocate(0))).isZero();
      assertThat(Pages.releases()).isEqualTo(System.getProperty("os.name").equals("Linux"));
    }
  }

  @Test
  void wholePagesAreCountedAsResidentOnlyOnceTouched() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(64 * 4096, 4096);
      s.fill((byte) 1);
      long all = Pages.resident(s);
      assertThat(all).isEqualTo(64 * 4096);
      Pages.release(s, 4096, 33 * 4096); // exactly 32 whole pages
      if (Pages.releases()) {
        // release reads the range's first word to check it: that maps one zero page back in
        assertThat(Pages.resident(s)).isBetween(32L * 4096, 33L * 4096);
      }
      assertThat(s.get(ValueLayout.JAVA_BYTE, 4096 - 1)).isEqualTo((byte) 1);
      assertThat(s.get(ValueLayout.JAVA_BYTE, 33 * 4096)).isEqualTo((byte) 1);
      for (long i = 4096; i < 33 * 4096; i += 512) {
        assertThat(s.get(ValueLayout.JAVA_BYTE, i)).isZero();
      }
      MemorySegment inside = s.asSlice(100, 10);
      assertThat(Pages.resident(inside)).isEqualTo(4096); // its page, counted whole
    }
  }
}
