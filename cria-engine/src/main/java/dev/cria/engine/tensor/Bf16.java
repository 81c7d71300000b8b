package dev.cria.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * bfloat16: the top 16 bits of an IEEE float (8 exponent bits, 7 fraction bits), kept in a {@code
 * short}. Rounding to it is to the nearest value, ties to even, as oneDNN, PyTorch and the hardware
 * instructions ({@code VCVTNEPS2BF16}) do; NaN stays a (quiet) NaN. Widening back is exact.
 *
 * <p>The plain loops here are the reference the vectorized conversions are tested against.
 */
public final class Bf16 {
  /** A bf16 element of native order, 2-byte aligned. */
  public static final ValueLayout.OfShort LAYOUT = ValueLayout.JAVA_SHORT;

  /** Bytes per element. */
  public static final int BYTES = 2;

  private Bf16() {}

  /** {@code value} rounded to the nearest bf16, ties to even. */
  public static short round(float value) {
    int bits = Float.floatToRawIntBits(value);
    if ((bits & 0x7fff_ffff) > 0x7f80_0000) { // NaN: keep it a NaN, quiet, with its sign
      return (short) ((bits >>> 16) | 0x0040);
    }
    int lsb = (bits >>> 16) & 1;
    return (short) ((bits + 0x7fff + lsb) >>> 16);
  }

  /** The float a bf16 stands for (exact). */
  public static float widen(short value) {
    return Float.intBitsToFloat((value & 0xffff) << 16);
  }

  /** {@code value} rounded to bf16 and widened again: what a bf16 product sees of it. */
  public static float roundTrip(float value) {
    return widen(round(value));
  }

  /**
   * {@code value} rounded to a bf16 value stochastically, returned as the float it stands for: up
   * in magnitude with probability equal to how far {@code value} lies past the bf16 value below it,
   * in units of the step between the two, with {@code random16}'s low 16 bits as the draw (uniform
   * bits make the rounding unbiased: its expectation is {@code value}). Infinities and NaN stay as
   * they are; a value past the largest bf16 may round up to infinity, as the hardware's does.
   */
  public static float roundStochastic(float value, int random16) {
    int bits = Float.floatToRawIntBits(value);
    if ((bits & 0x7f80_0000) == 0x7f80_0000) {
      return value;
    }
    return Float.intBitsToFloat((bits + (random16 & 0xffff)) & 0xffff_0000);
  }

  /**
   * The 16 random bits of element {@code index} under {@code seed}: a counter-based hash
   * (SplitMix64's finalizer of {@code seed + index * golden ratio}), so that whichever thread,
   * shard or rank rounds an element draws the same bits for it.
   */
  public static int noise16(long seed, long index) {
    long z = seed + index * 0x9E37_79B9_7F4A_7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58_476D_1CE4_E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D0_49BB_1331_11EBL;
    z ^= z >>> 31;
    return (int) (z >>> 48);
  }

  /** Rounds {@code count} floats of {@code src} from {@code srcOff} into bf16 {@code dst}. */
  public static void round(
      MemorySegment dst, long dstOff, MemorySegment src, long srcOff, long count) {
    for (long i = 0; i < count; i++) {
      dst.setAtIndex(LAYOUT, dstOff + i, round(src.getAtIndex(Floats.F32, srcOff + i)));
    }
  }

  /** Widens {@code count} bf16 elements of {@code src} from {@code srcOff} into floats. */
  public static void widen(
      MemorySegment dst, long dstOff, MemorySegment src, long srcOff, long count) {
    for (long i = 0; i < count; i++) {
      dst.setAtIndex(Floats.F32, dstOff + i, widen(src.getAtIndex(LAYOUT, srcOff + i)));
    }
  }
}
