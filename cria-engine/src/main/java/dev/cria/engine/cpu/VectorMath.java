package dev.cria.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Lane functions whose results do not depend on how the JVM runs them. The Vector API leaves the
 * order of {@code reduceLanes(ADD)} unspecified and computes {@code EXP} with different code when
 * interpreted and when compiled, so the same step could round differently before and after the JIT
 * warms up: training would not repeat bit for bit (and an exact resume would be impossible). These
 * use only IEEE-exact operations (add, mul, fma, conversions) in a fixed order, and the scalar
 * {@link #exp(float)} does the same arithmetic as one lane of {@link #exp(FloatVector)}. The loops
 * over arrays built on them that more than one kernel runs ({@code max}, {@code expInPlace}) live
 * here too; a maximum does not depend on the order in which the lanes are compared, so {@code
 * reduceLanes(MAX)} is safe.
 */
final class VectorMath {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final float LOG2E = 1.44269504088896341f;
  // ln 2 split in two, Cody-Waite, so that k * LN2_HI is exact for the k that occur
  private static final float LN2_HI = 0.693359375f;
  private static final float LN2_LO = -2.12194440e-4f;
  private static final float MAX_INPUT = 88.3762626647949f;
  private static final float MIN_INPUT = -87.3365447504f; // exp of it is the smallest normal float
  private static final float ROUNDER = 12582912f; // 1.5 * 2^23: adding it rounds to an integer
  // Cephes expf polynomial for exp(r) on |r| <= ln2/2
  private static final float P0 = 1.9875691500e-4f;
  private static final float P1 = 1.3981999507e-3f;
  private static final float P2 = 8.3334519073e-3f;
  private static final float P3 = 4.1665795894e-2f;
  private static final float P4 = 1.6666665459e-1f;
  private static final float P5 = 5.0000001201e-1f;

  private VectorMath() {}

  /**
   * e^x for every lane, to about 2 ulp; inputs are clamped to [-87.3, 88.4]. The clamps compare and
   * blend rather than call {@code max}/{@code min}, whose Java semantics (NaN, -0.0) cost several
   * instructions a lane: the same results for every input, a NaN included. The power of two is
   * built from the bits of {@code v log2(e) + 1.5 * 2^23}, which hold k in their low bits, instead
   * of converting k back to an integer.
   */
  static FloatVector exp(FloatVector x) {
    VectorSpecies<Float> s = x.species();
    FloatVector lo = FloatVector.broadcast(s, MIN_INPUT);
    FloatVector hi = FloatVector.broadcast(s, MAX_INPUT);
    FloatVector v = x.blend(lo, x.lt(lo));
    v = v.blend(hi, v.compare(VectorOperators.GT, hi));
    FloatVector rounded = v.fma(FloatVector.broadcast(s, LOG2E), FloatVector.broadcast(s, ROUNDER));
    FloatVector k = rounded.sub(ROUNDER);
    FloatVector r = k.fma(FloatVector.broadcast(s, -LN2_HI), v);
    r = k.fma(FloatVector.broadcast(s, -LN2_LO), r);
    FloatVector p = r.fma(FloatVector.broadcast(s, P0), FloatVector.broadcast(s, P1));
    p = p.fma(r, FloatVector.broadcast(s, P2));
    p = p.fma(r, FloatVector.broadcast(s, P3));
    p = p.fma(r, FloatVector.broadcast(s, P4));
    p = p.fma(r, FloatVector.broadcast(s, P5));
    p = p.fma(r.mul(r), r).add(1f);
    // rounded = 1.5 * 2^23 + k exactly, so its bits are 0x4B400000 + k and shifting them left by 23
    // leaves (k + 127) << 23 once 127 is added: the bits of 2^k
    IntVector bits =
        ((IntVector) rounded.reinterpretAsInts()).add(127).lanewise(VectorOperators.LSHL, 23);
    return p.mul(bits.reinterpretAsFloats());
  }

  /** e^x with exactly the arithmetic of one lane of {@link #exp(FloatVector)}. */
  static float exp(float x) {
    float v = Math.min(Math.max(x, MIN_INPUT), MAX_INPUT);
    float k = Math.fma(v, LOG2E, ROUNDER) - ROUNDER;
    float r = Math.fma(k, -LN2_HI, v);
    r = Math.fma(k, -LN2_LO, r);
    float p = Math.fma(r, P0, P1);
    p = Math.fma(p, r, P2);
    p = Math.fma(p, r, P3);
    p = Math.fma(p, r, P4);
    p = Math.fma(p, r, P5);
    p = Math.fma(p, r * r, r) + 1f;
    return p * Float.intBitsToFloat(((int) k + 127) << 23);
  }

  /** The sum of the lanes, added in lane order. */
  static float sum(FloatVector v) {
    float s = 0;
    for (int i = 0; i < v.length(); i++) {
      s += v.lane(i);
    }
    return s;
  }

  /** {@code x[j] = exp(x[j] - shift)} for j in [0, count); returns their sum. */
  static float expInPlace(float[] x, int count, float shift) {
    return expInPlace(x, 0, count, shift);
  }

  /** {@code x[at + j] = exp(x[at + j] - shift)} for j in [0, count); returns their sum. */
  static float expInPlace(float[] x, int at, int count, float shift) {
    FloatVector total = FloatVector.zero(S);
    int j = 0;
    for (; j <= count - L; j += L) {
      FloatVector e = VectorMath.exp(FloatVector.fromArray(S, x, at + j).sub(shift));
      e.intoArray(x, at + j);
      total = total.add(e);
    }
    float sum = VectorMath.sum(total);
    for (; j < count; j++) {
      x[at + j] = VectorMath.exp(x[at + j] - shift);
      sum += x[at + j];
    }
    return sum;
  }

  /** The largest of {@code x[0..count)}. */
  static float max(float[] x, int count) {
    return max(x, 0, count);
  }

  /** The largest of {@code x[at..at + count)}. */
  static float max(float[] x, int at, int count) {
    FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
    int j = 0;
    for (; j <= count - L; j += L) {
      m = m.max(FloatVector.fromArray(S, x, at + j));
    }
    float max = m.reduceLanes(VectorOperators.MAX);
    for (; j < count; j++) {
      max = Math.max(max, x[at + j]);
    }
    return max;
  }
}
