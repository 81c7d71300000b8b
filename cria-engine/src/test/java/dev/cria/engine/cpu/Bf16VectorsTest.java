package dev.cria.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.tensor.Bf16;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Vector API conversions give exactly the bits of {@link Bf16}'s scalar ones, on every kind of
 * float (ties, NaNs, infinities, overflow, subnormals, signed zeros), for counts and offsets that
 * leave vector tails, and above the 65536-element chunk where the pool's threads split the work.
 */
class Bf16VectorsTest {
  private static final int[] COUNTS = {
    0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 1000, 1023, 65535, 65536, 65537, 3 * 65536 + 123
  };
  private static final int[] SPECIAL = {
    0x0000_0000,
    0x8000_0000, // signed zeros
    0x7f80_0000,
    0xff80_0000, // infinities
    0x7fc0_0000,
    0xffc0_0000,
    0x7f80_0001,
    0xff80_0001,
    0x7fff_ffff,
    0xffff_ffff,
    0x7f80_8000,
    0x7f7f_ffff,
    0xff7f_ffff,
    0x7f7f_8000,
    0x7f7f_7fff, // MAX_VALUE and the tie to infinity
    0x0000_0001,
    0x8000_0001,
    0x0000_8000,
    0x0001_8000,
    0x007f_ffff,
    0x807f_ffff, // subnormals
    0x3f80_8000,
    0x3f81_8000,
    0xbf80_8000,
    0xbf81_8000,
    0x3fff_8000, // ties
    0x3f80_7fff,
    0x3f80_8001,
    0x3f81_7fff,
    0x3f81_8001, // either side of ties
  };

  static Parallel two;
  static Arena arena;

  @BeforeAll
  static void start() {
    two = Parallel.create(2);
    arena = Arena.ofShared();
  }

  @AfterAll
  static void stop() {
    arena.close();
    two.close();
  }

  /** Floats of every kind, as raw bits, so NaN payloads survive into the segment. */
  static MemorySegment floats(int length, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    MemorySegment s = arena.allocate(length * 4L, 64);
    for (int i = 0; i < length; i++) {
      int bits =
          switch (random.nextInt(6)) {
            case 0 -> random.nextInt();
            case 1 -> Float.floatToRawIntBits((float) random.nextGaussian());
            case 2 -> (random.nextInt() & 0xffff_0000) | 0x8000; // ties, both parities
            case 3 -> (random.nextInt() & 0xffff_0000) | (0x7ffe + random.nextInt(4));
            case 4 -> SPECIAL[random.nextInt(SPECIAL.length)];
            default -> random.nextInt() & 0x807f_ffff; // subnormals and zeros of both signs
          };
      s.setAtIndex(ValueLayout.JAVA_INT, i, bits);
    }
    return s;
  }

  @Test
  void roundGivesTheScalarBitsForEveryCountOffsetAndPool() {
    int max = COUNTS[COUNTS.length - 1];
    MemorySegment src = floats(max + 11, 1);
    MemorySegment expected = arena.allocate((max + 20) * 2L, 64);
    MemorySegment actual = arena.allocate((max + 20) * 2L, 64);
    for (Parallel pool : new Parallel[] {Parallel.serial(), two}) {
      for (int count : COUNTS) {
        for (int[] off : new int[][] {{0, 0}, {3, 5}, {13, 1}}) {
          int dstOff = off[0];
          int srcOff = off[1];
          expected.fill((byte) 0x5a);
          actual.fill((byte) 0x5a);
          Bf16.round(expected, dstOff, src, srcOff, count);
          Bf16Vectors.round(pool, actual, dstOff, src, srcOff, count);
          int mismatch = firstMismatch(actual, expected, ValueLayout.JAVA_SHORT, max + 20);
          assertThat(mismatch)
              .as(
                  "round of %d from %d into %d on %d threads: first difference at %d (src %08x)",
                  count,
                  srcOff,
                  dstOff,
                  pool.threads(),
                  mismatch,
                  mismatch < 0
                      ? 0
                      : src.getAtIndex(
                          ValueLayout.JAVA_INT,
                          Math.min(max + 10, Math.max(0, mismatch - dstOff + srcOff))))
              .isEqualTo(-1);
          if (count > 0) { // and the scalar loop is the rounding itself, element by element
            int last = count - 1;
            assertThat(actual.getAtIndex(Bf16.LAYOUT, dstOff + last))
                .isEqualTo(Bf16.round(src.getAtIndex(ValueLayout.JAVA_FLOAT, srcOff + last)));
          }
          assertThat(actual.getAtIndex(Bf16.LAYOUT, dstOff + count))
              .as("the element after the last is untouched")
              .isEqualTo((short) 0x5a5a);
        }
      }
    }
  }

  @Test
  void everySpecialValueRoundsAsTheScalarDoesInEveryLane() {
    int n = SPECIAL.length * 17; // each value in several lanes
    MemorySegment src = arena.allocate(n * 4L, 64);
    for (int i = 0; i < n; i++) {
      src.setAtIndex(ValueLayout.JAVA_INT, i, SPECIAL[i % SPECIAL.length]);
    }
    MemorySegment actual = arena.allocate(n * 2L, 64);
    Bf16Vectors.round(two, actual, 0, src, 0, n);
    for (int i = 0; i < n; i++) {
      int bits = SPECIAL[i % SPECIAL.length];
      assertThat(actual.getAtIndex(Bf16.LAYOUT, i))
          .as("lane %d: %08x", i, bits)
          .isEqualTo(Bf16.round(Float.intBitsToFloat(bits)));
    }
  }

  @Test
  void widenGivesTheScalarBitsForEveryCountOffsetAndPool() {
    int max = COUNTS[COUNTS.length - 1];
    MemorySegment src = arena.allocate((max + 11) * 2L, 64);
    for (int i = 0; i < max + 11; i++) {
      src.setAtIndex(Bf16.LAYOUT, i, (short) (i < 1 << 16 ? i : i * 40503)); // all 65536 first
    }
    MemorySegment expected = arena.allocate((max + 20) * 4L, 64);
    MemorySegment actual = arena.allocate((max + 20) * 4L, 64);
    for (Parallel pool : new Parallel[] {Parallel.serial(), two}) {
      for (int count : COUNTS) {
        for (int[] off : new int[][] {{0, 0}, {3, 5}, {13, 1}}) {
          int dstOff = off[0];
          int srcOff = off[1];
          expected.fill((byte) 0x5a);
          actual.fill((byte) 0x5a);
          Bf16.widen(expected, dstOff, src, srcOff, count);
          Bf16Vectors.widen(pool, actual, dstOff, src, srcOff, count);
          int mismatch = firstMismatch(actual, expected, ValueLayout.JAVA_INT, max + 20);
          assertThat(mismatch)
              .as(
                  "widen of %d from %d into %d on %d threads: first difference at %d",
                  count, srcOff, dstOff, pool.threads(), mismatch)
              .isEqualTo(-1);
          for (int i = 0; i < count; i += 97) { // and the bits are the bf16 bits shifted up
            int s = src.getAtIndex(Bf16.LAYOUT, srcOff + i) & 0xffff;
            if ((s & 0x7fff) <= 0x7f80) { // not NaN: exact bits whatever the platform
              assertThat(actual.getAtIndex(ValueLayout.JAVA_INT, dstOff + i)).isEqualTo(s << 16);
            }
          }
          assertThat(actual.getAtIndex(ValueLayout.JAVA_INT, dstOff + count))
              .as("the element after the last is untouched")
              .isEqualTo(0x5a5a_5a5a);
        }
      }
    }
  }

  @Test
  void roundThenWidenIsTheScalarRoundTripOnManyChunks() {
    int n = 5 * 65536 + 7;
    MemorySegment src = floats(n, 9);
    MemorySegment bf = arena.allocate(n * 2L, 64);
    MemorySegment back = arena.allocate(n * 4L, 64);
    Bf16Vectors.round(two, bf, 0, src, 0, n);
    Bf16Vectors.widen(two, back, 0, bf, 0, n);
    for (int i = 0; i < n; i++) {
      float v = src.getAtIndex(ValueLayout.JAVA_FLOAT, i);
      float w = back.getAtIndex(ValueLayout.JAVA_FLOAT, i);
      if (Float.isNaN(v)) {
        assertThat(w).as("%d", i).isNaN();
      } else {
        assertThat(Float.floatToRawIntBits(w))
            .as("%d: %08x", i, Float.floatToRawIntBits(v))
            .isEqualTo(Float.floatToRawIntBits(Bf16.roundTrip(v)));
      }
    }
  }

  /** The first index where the two differ as raw bits, or -1. */
  static int firstMismatch(MemorySegment a, MemorySegment b, ValueLayout layout, int elements) {
    long byteIndex =
        a.asSlice(0, elements * layout.byteSize())
            .mismatch(b.asSlice(0, elements * layout.byteSize()));
    return byteIndex < 0 ? -1 : (int) (byteIndex / layout.byteSize());
  }
}
