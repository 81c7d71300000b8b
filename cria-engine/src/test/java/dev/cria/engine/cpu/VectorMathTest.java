package dev.cria.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

class VectorMathTest {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  @Test
  void expIsAccurateAndTheVectorEqualsTheScalarBitForBit() {
    SplittableRandom random = new SplittableRandom(3);
    float[] x = new float[S.length()];
    double worst = 0;
    for (int round = 0; round < 20_000; round++) {
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (random.nextDouble(-87, 88));
      }
      if (round == 0) {
        x[0] = 0;
        x[1] = -0.5f;
      }
      if (round == 1) { // the clamps, lane by lane
        x[0] = Float.NEGATIVE_INFINITY;
        x[1] = Float.POSITIVE_INFINITY;
        x[2] = Float.NaN;
        x[3] = -1000f;
        x[4] = 1000f;
        x[5] = -0f;
        x[6] = -87.3365447504f;
        x[7] = 88.3762626647949f;
      }
      float[] v = new float[x.length];
      VectorMath.exp(FloatVector.fromArray(S, x, 0)).intoArray(v, 0);
      for (int i = 0; i < x.length; i++) {
        assertThat(Float.floatToRawIntBits(v[i]))
            .as("exp(%s)", x[i])
            .isEqualTo(Float.floatToRawIntBits(VectorMath.exp(x[i])));
        double exact = Math.exp(x[i]);
        if (round == 1) {
          continue; // outside the clamps
        }
        worst = Math.max(worst, Math.abs(v[i] - exact) / exact);
      }
    }
    assertThat(worst).as("largest relative error").isLessThan(4e-7);
    assertThat(VectorMath.exp(0f)).isEqualTo(1f);
    assertThat(VectorMath.exp(Float.NEGATIVE_INFINITY)).isLessThan(1.2e-38f);
    assertThat(VectorMath.exp(Float.NaN)).isNaN();
    assertThat(VectorMath.exp(1000f)).isGreaterThan(2e38f).isFinite();
  }

  @Test
  void sumAddsLanesInOrder() {
    float[] x = new float[S.length()];
    x[0] = 1e8f;
    x[1] = 1f;
    x[2] = -1e8f;
    // In lane order: (1e8 + 1) rounds to 1e8, then - 1e8 = 0; other orders give 1.
    assertThat(VectorMath.sum(FloatVector.fromArray(S, x, 0))).isEqualTo(0f);
  }
}
