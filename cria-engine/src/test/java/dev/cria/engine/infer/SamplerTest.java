package dev.cria.engine.infer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
  static final int DRAWS = 20_000;

  /** About four standard deviations of a frequency near 1/2 over 20000 draws (0.0035 each). */
  static final double FREQUENCY_TOLERANCE = 0.015;

  @Test
  void greedyPicksTheArgmaxAndTheLowestIdOnTies() {
    float[] logits = {1f, 3f, -2f, 3f, 2.5f};
    assertThat(Sampler.greedy().sample(logits)).isEqualTo(1);
    assertThat(Sampler.of(0, 0.9, 7).sample(logits)).isEqualTo(1);
    assertThat(Sampler.of(-1, 1, 7).sample(logits)).isEqualTo(1);
    assertThat(Sampler.greedy().sample(new float[] {Float.NEGATIVE_INFINITY, -5f})).isEqualTo(1);
    assertThat(Sampler.greedy().isGreedy()).isTrue();
  }

  @Test
  void theSameSeedGivesTheSameTokensAndAnotherSeedOthers() {
    float[] logits = randomLogits(1000, 1);
    int[] a = draw(Sampler.of(1.0, 0.95, 42), logits, 200);
    int[] b = draw(Sampler.of(1.0, 0.95, 42), logits, 200);
    int[] c = draw(Sampler.of(1.0, 0.95, 43), logits, 200);
    assertThat(a).containsExactly(b);
    assertThat(java.util.Arrays.equals(a, c)).isFalse();
  }

  @Test
  void aTinyTopPAlwaysGivesTheArgmax() {
    float[] logits = randomLogits(500, 2);
    int best = Sampler.greedy().sample(logits);
    assertThat(draw(Sampler.of(1.5, 1e-6, 3), logits, 1000)).containsOnly(best);
  }

  @Test
  void frequenciesAtTemperatureOneMatchTheSoftmax() {
    float[] logits = {2f, 1f, 0.5f, 0f, -1f, 1.5f, -3f, 0.2f};
    assertFrequencies(Sampler.of(1.0, 1.0, 9), logits, softmax(logits, 1.0));
  }

  @Test
  void topPKeepsTheSmallestSetThatReachesItRenormalized() {
    // probabilities 0.5, 0.3, 0.1, 0.1: at top-p 0.7 the nucleus is {0, 1}, renormalized to 5/8,
    // 3/8
    float[] logits = logs(0.1, 0.5, 0.1, 0.3);
    assertFrequencies(Sampler.of(1.0, 0.7, 4), logits, new double[] {0, 0.625, 0, 0.375});
    // up to 0.8 the same two suffice; above it one 0.1 joins, the lower id of the two tied ones
    assertThat(draw(Sampler.of(1.0, 0.79, 4), logits, 2000)).containsOnly(1, 3);
    assertThat(draw(Sampler.of(1.0, 0.85, 4), logits, 2000)).containsOnly(0, 1, 3).contains(0);
  }

  @Test
  void lowTemperatureSharpensAndHighTemperatureFlattens() {
    float[] logits = {1f, 0f, 0.5f, -0.5f};
    double[] atOne = frequencies(Sampler.of(1.0, 1.0, 5), logits);
    double[] cold = assertFrequencies(Sampler.of(0.5, 1.0, 5), logits, softmax(logits, 0.5));
    double[] hot = assertFrequencies(Sampler.of(2.0, 1.0, 5), logits, softmax(logits, 2.0));
    assertThat(cold[0]).isGreaterThan(atOne[0] + 0.1);
    assertThat(hot[0]).isLessThan(atOne[0] - 0.05);
    assertThat(hot[3]).isGreaterThan(atOne[3]);
  }

  @Test
  void badArgumentsAreRefused() {
    assertThatThrownBy(() -> Sampler.of(Double.NaN, 1, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("temperature");
    assertThatThrownBy(() -> Sampler.of(Double.POSITIVE_INFINITY, 1, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("temperature");
    for (double topP : new double[] {0, -0.5, 1.0001, Double.NaN}) {
      assertThatThrownBy(() -> Sampler.of(1, topP, 0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("the nucleus (--top-p) must be in (0, 1], got " + topP);
    }
    Sampler sampler = Sampler.of(1, 1, 0);
    assertThatThrownBy(() -> sampler.sample(new float[0]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no logits");
    assertThatThrownBy(() -> sampler.sample(new float[] {0f, Float.NaN}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("logit 1 is NaN");
    assertThatThrownBy(() -> sampler.sample(new float[] {Float.NEGATIVE_INFINITY}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("-infinity");
  }

  private static double[] assertFrequencies(Sampler sampler, float[] logits, double[] expected) {
    double[] seen = frequencies(sampler, logits);
    for (int i = 0; i < expected.length; i++) {
      assertThat(seen[i])
          .as("frequency of token %d", i)
          .isCloseTo(expected[i], within(FREQUENCY_TOLERANCE));
    }
    return seen;
  }

  private static double[] frequencies(Sampler sampler, float[] logits) {
    double[] counts = new double[logits.length];
    for (int token : draw(sampler, logits, DRAWS)) {
      counts[token]++;
    }
    for (int i = 0; i < counts.length; i++) {
      counts[i] /= DRAWS;
    }
    return counts;
  }

  private static int[] draw(Sampler sampler, float[] logits, int count) {
    int[] tokens = new int[count];
    for (int i = 0; i < count; i++) {
      tokens[i] = sampler.sample(logits);
    }
    return tokens;
  }

  private static double[] softmax(float[] logits, double temperature) {
    double[] p = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < p.length; i++) {
      p[i] = Math.exp(logits[i] / temperature);
      sum += p[i];
    }
    for (int i = 0; i < p.length; i++) {
      p[i] /= sum;
    }
    return p;
  }

  private static float[] logs(double... probabilities) {
    float[] logits = new float[probabilities.length];
    for (int i = 0; i < logits.length; i++) {
      logits[i] = (float) Math.log(probabilities[i]);
    }
    return logits;
  }

  private static float[] randomLogits(int vocab, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    float[] logits = new float[vocab];
    for (int i = 0; i < vocab; i++) {
      logits[i] = (float) (3 * random.nextGaussian());
    }
    return logits;
  }
}
