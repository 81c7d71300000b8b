package dev.cria.engine.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * bf16 rounding against the IEEE rules written independently here (in double arithmetic, and for a
 * few values in BigDecimal), and widening against the bit layout.
 */
class Bf16Test {

  /** The float's bf16 rounding as bits, with {@code float} bits of the rounded value. */
  private static int roundedBits(float value) {
    return Float.floatToRawIntBits(Bf16.roundTrip(value));
  }

  /**
   * The nearest bf16 to a finite {@code value}, ties to even, computed in double: bf16 has float's
   * exponent range and 8 significant bits, so its spacing at {@code value} is {@code 2^(e - 7)}
   * with {@code e} the float exponent (at least -126, the subnormals sharing the smallest spacing).
   * {@link Math#rint} rounds ties to even; 2^128 and beyond become infinity when cast to float.
   */
  private static float independentRound(float value) {
    int e = Math.max(Math.getExponent(value), Float.MIN_EXPONENT);
    double ulp = Math.scalb(1.0, e - 7);
    double rounded = Math.rint(value / ulp) * ulp;
    return (float) rounded; // exact: a bf16 value, or beyond the float range (infinity)
  }

  /** The same in BigDecimal, for finite values: nearest of 8 significant bits, ties to even. */
  private static float bigDecimalRound(float value) {
    if (value == 0) {
      return value;
    }
    int e = Math.max(Math.getExponent(value), Float.MIN_EXPONENT);
    BigDecimal ulp = new BigDecimal(Math.scalb(1.0, e - 7));
    BigDecimal q = new BigDecimal(value).divide(ulp, MathContext.UNLIMITED);
    BigDecimal rounded = q.setScale(0, RoundingMode.HALF_EVEN).multiply(ulp);
    if (rounded.abs().compareTo(new BigDecimal(Math.scalb(1.0, 128))) >= 0) {
      return value > 0 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
    }
    float f = rounded.floatValue();
    return rounded.signum() == 0 ? Math.copySign(0f, value) : f;
  }

  @Test
  void roundsTiesToEven() {
    float halfUlpAboveOne = 1f + 0x1p-8f; // exactly between 1 and 1 + 2^-7: 1 is even
    assertThat(Bf16.roundTrip(halfUlpAboveOne)).isEqualTo(1f);
    float threeHalfUlps = 1f + 3 * 0x1p-8f; // between 1 + 2^-7 (odd) and 1 + 2^-6 (even)
    assertThat(Bf16.roundTrip(threeHalfUlps)).isEqualTo(1f + 0x1p-6f);
    assertThat(Bf16.roundTrip(-halfUlpAboveOne)).isEqualTo(-1f);
    assertThat(Bf16.roundTrip(-threeHalfUlps)).isEqualTo(-(1f + 0x1p-6f));
    // a tie whose rounding up carries into the exponent: 2 - 2^-8 is between 1.9921875 (odd) and 2
    assertThat(Bf16.roundTrip(2f - 0x1p-8f)).isEqualTo(2f);
    assertThat(Bf16.round(1f + 0x1p-8f)).isEqualTo((short) 0x3f80);
    assertThat(Bf16.round(1f + 3 * 0x1p-8f)).isEqualTo((short) 0x3f82);
  }

  @Test
  void roundsToTheNearestValueOffTies() {
    assertThat(Bf16.roundTrip(1f + 0x1p-8f + 0x1p-20f))
        .as("just above a tie")
        .isEqualTo(1f + 0x1p-7f);
    assertThat(Bf16.roundTrip(1f + 0x1p-8f - 0x1p-20f)).as("just below a tie").isEqualTo(1f);
    assertThat(Bf16.roundTrip(1f + 3 * 0x1p-8f - 0x1p-20f)).isEqualTo(1f + 0x1p-7f);
    assertThat(Bf16.roundTrip((float) Math.PI)).isEqualTo(3.140625f);
    assertThat(Bf16.roundTrip(-(float) Math.PI)).isEqualTo(-3.140625f);
    assertThat(Bf16.roundTrip(0.1f)).isEqualTo(0.10009765625f);
    assertThat(Bf16.roundTrip(1000.7f)).isEqualTo(1000f);
    assertThat(Bf16.roundTrip(1003f)).isEqualTo(1004f); // spacing 4 at 1024 > x >= 512
  }

  @Test
  void everyBf16ValueWidensExactlyAndRoundsBackToItself() {
    for (int s = 0; s < 1 << 16; s++) {
      short bits = (short) s;
      float wide = Bf16.widen(bits);
      assertThat(Float.floatToRawIntBits(wide)).as("widen %04x", s).isEqualTo(s << 16);
      if (Float.isNaN(wide)) {
        assertThat(Float.isNaN(Bf16.widen(Bf16.round(wide)))).as("NaN %04x", s).isTrue();
        assertThat(Bf16.round(wide) & 0x8000).as("sign of NaN %04x", s).isEqualTo(s & 0x8000);
      } else {
        assertThat(Bf16.round(wide)).as("round(widen(%04x))", s).isEqualTo(bits);
      }
    }
  }

  @Test
  void nanStaysNaNWithItsSignAndBecomesQuiet() {
    int[] nans = {
      0x7fc0_0000, // the canonical quiet NaN
      0x7f80_0001, // signalling, payload only in the low bits that rounding drops
      0x7f80_8000, // payload exactly half a bf16 step
      0x7fbf_ffff,
      0x7fff_ffff, // the largest payload: + 0x7fff would overflow the sign
      0xffc0_0000,
      0xff80_0001,
      0xffff_ffff,
    };
    for (int bits : nans) {
      float nan = Float.intBitsToFloat(bits);
      short r = Bf16.round(nan);
      assertThat(Float.isNaN(Bf16.widen(r))).as("%08x", bits).isTrue();
      assertThat(r & 0x8000).as("sign of %08x", bits).isEqualTo((bits >>> 16) & 0x8000);
      assertThat(r & 0x0040).as("quiet bit of %08x", bits).isEqualTo(0x0040);
    }
    assertThat(Bf16.roundTrip(Float.NaN)).isNaN();
  }

  @Test
  void infinitiesStayAndLargeFiniteValuesOverflowToThem() {
    assertThat(Bf16.roundTrip(Float.POSITIVE_INFINITY)).isEqualTo(Float.POSITIVE_INFINITY);
    assertThat(Bf16.roundTrip(Float.NEGATIVE_INFINITY)).isEqualTo(Float.NEGATIVE_INFINITY);
    assertThat(Bf16.roundTrip(Float.MAX_VALUE)).isEqualTo(Float.POSITIVE_INFINITY);
    assertThat(Bf16.roundTrip(-Float.MAX_VALUE)).isEqualTo(Float.NEGATIVE_INFINITY);
    float bf16Max = Float.intBitsToFloat(0x7f7f_0000); // (2 - 2^-7) 2^127
    assertThat(Bf16.roundTrip(bf16Max)).isEqualTo(bf16Max);
    float tieToInfinity = Float.intBitsToFloat(0x7f7f_8000); // halfway to 2^128: 2^128 is even
    assertThat(Bf16.roundTrip(tieToInfinity)).isEqualTo(Float.POSITIVE_INFINITY);
    assertThat(Bf16.roundTrip(-tieToInfinity)).isEqualTo(Float.NEGATIVE_INFINITY);
    float belowTie = Float.intBitsToFloat(0x7f7f_7fff);
    assertThat(Bf16.roundTrip(belowTie)).isEqualTo(bf16Max);
  }

  @Test
  void zerosKeepTheirSign() {
    assertThat(Bf16.round(0f)).isEqualTo((short) 0);
    assertThat(Bf16.round(-0f)).isEqualTo((short) 0x8000);
    assertThat(Float.floatToRawIntBits(Bf16.roundTrip(-0f))).isEqualTo(0x8000_0000);
    // values that round to zero keep their sign too
    assertThat(roundedBits(-Float.MIN_VALUE)).isEqualTo(0x8000_0000);
    assertThat(roundedBits(Float.MIN_VALUE)).isZero();
  }

  @Test
  void subnormalsRoundOnTheSameGridAsFloats() {
    float smallest = Float.intBitsToFloat(0x0001_0000); // 2^-133, the smallest bf16 subnormal
    assertThat(smallest).isEqualTo(0x1p-133f);
    assertThat(Bf16.roundTrip(smallest)).isEqualTo(smallest);
    assertThat(Bf16.roundTrip(Float.intBitsToFloat(0x0000_8000))).as("tie to 0").isZero();
    assertThat(Bf16.roundTrip(Float.intBitsToFloat(0x0000_8001))).isEqualTo(smallest);
    assertThat(Bf16.roundTrip(Float.intBitsToFloat(0x0001_8000)))
        .as("tie to even 2^-132")
        .isEqualTo(0x1p-132f);
    // the largest subnormal rounds up to the smallest normal
    assertThat(Bf16.roundTrip(Float.intBitsToFloat(0x007f_ffff))).isEqualTo(Float.MIN_NORMAL);
    assertThat(Bf16.roundTrip(-Float.intBitsToFloat(0x007f_ffff))).isEqualTo(-Float.MIN_NORMAL);
    for (int bits = 0; bits < 0x0080_0000; bits += 0x1235) {
      float v = Float.intBitsToFloat(bits);
      assertThat(roundedBits(v))
          .as("%08x", bits)
          .isEqualTo(Float.floatToRawIntBits(independentRound(v)));
    }
  }

  @Test
  void matchesAnIndependentRoundingOnRandomFloats() {
    SplittableRandom random = new SplittableRandom(7);
    for (int i = 0; i < 2_000_000; i++) {
      int bits =
          switch (i % 4) {
            case 0 -> random.nextInt(); // every exponent, NaNs and infinities among them
            case 1 -> Float.floatToRawIntBits((float) (random.nextGaussian() * 3));
            case 2 -> (random.nextInt() & 0xffff_0000) | 0x8000; // ties
            default -> (random.nextInt() & 0xffff_0000) | (0x7ffe + random.nextInt(4)); // near ties
          };
      float v = Float.intBitsToFloat(bits);
      if (Float.isNaN(v)) {
        assertThat(Bf16.roundTrip(v)).as("%08x", bits).isNaN();
        continue;
      }
      assertThat(roundedBits(v))
          .as("%08x", bits)
          .isEqualTo(Float.floatToRawIntBits(independentRound(v)));
    }
  }

  @Test
  void agreesWithBigDecimalHalfEven() {
    SplittableRandom random = new SplittableRandom(11);
    for (int i = 0; i < 20_000; i++) {
      int bits = i % 2 == 0 ? random.nextInt() : (random.nextInt() & 0xffff_0000) | 0x8000;
      float v = Float.intBitsToFloat(bits);
      if (Float.isNaN(v) || Float.isInfinite(v)) {
        continue;
      }
      assertThat(roundedBits(v))
          .as("%08x", bits)
          .isEqualTo(Float.floatToRawIntBits(bigDecimalRound(v)));
    }
    for (float v : new float[] {Float.MAX_VALUE, -Float.MAX_VALUE, 1f + 0x1p-8f, -0f, 0x1p-140f}) {
      assertThat(roundedBits(v)).isEqualTo(Float.floatToRawIntBits(bigDecimalRound(v)));
    }
  }

  @Test
  void segmentLoopsConvertEachElementAtElementOffsets() {
    SplittableRandom random = new SplittableRandom(3);
    int count = 101;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment src = arena.allocate((count + 7) * 4L, 64);
      MemorySegment bf = arena.allocate((count + 12) * 2L, 64);
      MemorySegment back = arena.allocate((count + 9) * 4L, 64);
      for (int i = 0; i < count + 7; i++) {
        src.setAtIndex(Floats.F32, i, Float.intBitsToFloat(random.nextInt()));
      }
      bf.fill((byte) 0x5a);
      back.fill((byte) 0x5a);
      Bf16.round(bf, 5, src, 7, count);
      for (int i = 0; i < count + 12; i++) {
        short got = bf.getAtIndex(Bf16.LAYOUT, i);
        if (i < 5 || i >= 5 + count) {
          assertThat(got).as("untouched %d", i).isEqualTo((short) 0x5a5a);
        } else {
          assertThat(got).as("bf[%d]", i).isEqualTo(Bf16.round(src.getAtIndex(Floats.F32, i + 2)));
        }
      }
      Bf16.widen(back, 9, bf, 5, count);
      for (int i = 0; i < count + 9; i++) {
        int got = back.getAtIndex(ValueLayout.JAVA_INT, i);
        if (i < 9) {
          assertThat(got).as("untouched %d", i).isEqualTo(0x5a5a_5a5a);
        } else {
          assertThat(got)
              .as("back[%d]", i)
              .isEqualTo((bf.getAtIndex(Bf16.LAYOUT, i - 4) & 0xffff) << 16);
        }
      }
    }
  }
}
