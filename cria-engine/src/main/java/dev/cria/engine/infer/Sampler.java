package dev.cria.engine.infer;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits: greedily (the argmax, ties to the lowest id) when the
 * temperature is 0 or below, otherwise by sampling {@code softmax(logits / temperature)} restricted
 * to the nucleus: the smallest set of most probable tokens whose probability reaches {@code topP},
 * renormalized. The random stream is seeded, so the same seed and the same logits give the same
 * tokens. Keeps its random state and scratch buffers: not thread-safe.
 */
public final class Sampler {
  private final double temperature;
  private final double topP;
  private final long seed;
  private final SplittableRandom random;
  private double[] probabilities = new double[0]; // [vocab]
  private long[] candidates = new long[0]; // [vocab] nucleus candidates, see candidateKey

  private Sampler(double temperature, double topP, long seed) {
    this.temperature = temperature;
    this.topP = topP;
    this.seed = seed;
    this.random = new SplittableRandom(seed);
  }

  /**
   * A sampler with the given settings.
   *
   * @param temperature 0 or below for greedy decoding; otherwise logits are divided by it (below 1
   *     sharpens the distribution, above 1 flattens it)
   * @param topP nucleus mass in (0, 1]; 1 samples from the whole distribution
   * @param seed the random stream's seed
   */
  public static Sampler of(double temperature, double topP, long seed) {
    if (Double.isNaN(temperature) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException(
          "temperature must be a finite number (0 or below for greedy): " + temperature);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("the nucleus (--top-p) must be in (0, 1], got " + topP);
    }
    return new Sampler(temperature, topP, seed);
  }

  /** Greedy decoding: always the most probable token. */
  public static Sampler greedy() {
    return new Sampler(0, 1, 0);
  }

  public double temperature() {
    return temperature;
  }

  public double topP() {
    return topP;
  }

  public long seed() {
    return seed;
  }

  /** Whether this sampler always takes the argmax. */
  public boolean isGreedy() {
    return temperature <= 0;
  }

  /** The next token id, in {@code [0, logits.length)}. */
  public int sample(float[] logits) {
    if (logits.length == 0) {
      throw new IllegalArgumentException("no logits to sample from");
    }
    int best = argmax(logits);
    if (isGreedy()) {
      return best;
    }
    if (Float.isInfinite(logits[best])) {
      throw new IllegalArgumentException(
          logits[best] > 0
              ? "logit " + best + " is infinite; cannot sample"
              : "every logit is -infinity; cannot sample");
    }
    int vocab = logits.length;
    if (probabilities.length < vocab) {
      probabilities = new double[vocab];
      candidates = new long[vocab];
    }
    // softmax(logits / T) in double, shifted by the max so that exp cannot overflow
    double max = logits[best];
    double sum = 0;
    for (int i = 0; i < vocab; i++) {
      double p = Math.exp((logits[i] - max) / temperature);
      probabilities[i] = p;
      sum += p;
    }
    for (int i = 0; i < vocab; i++) {
      probabilities[i] /= sum;
    }
    return topP >= 1 ? sampleAll(vocab) : sampleNucleus(vocab, best);
  }

  /** Token i with probability {@code probabilities[i]}. */
  private int sampleAll(int vocab) {
    double r = random.nextDouble();
    double cumulative = 0;
    for (int i = 0; i < vocab; i++) {
      cumulative += probabilities[i];
      if (r < cumulative) {
        return i;
      }
    }
    return lastPositive(vocab); // r fell in the rounding gap below 1
  }

  private int lastPositive(int vocab) {
    for (int i = vocab - 1; i > 0; i--) {
      if (probabilities[i] > 0) {
        return i;
      }
    }
    return 0;
  }

  /**
   * Samples from the nucleus. Sorting all V tokens every step is wasteful: a token with probability
   * below {@code (1 - topP) / (V - 1)} can never be in the nucleus unless it is the most probable
   * one (the tokens after it, at most V - 1 of them, would hold less than the {@code 1 - topP} that
   * must lie outside), so only the others are sorted.
   */
  private int sampleNucleus(int vocab, int best) {
    double cutoff = vocab > 1 ? (1 - topP) / (vocab - 1) : 0;
    int n = 0;
    for (int i = 0; i < vocab; i++) {
      if (probabilities[i] >= cutoff || i == best) {
        candidates[n++] = candidateKey(probabilities[i], i);
      }
    }
    Arrays.sort(candidates, 0, n); // ascending: the most probable token is last
    double mass = 0;
    int first = n - 1; // the nucleus is candidates[first, n)
    for (; first >= 0; first--) {
      mass += probabilities[tokenOf(candidates[first])];
      if (mass >= topP) {
        break;
      }
    }
    first = Math.max(first, 0);
    double r = random.nextDouble() * mass;
    double cumulative = 0;
    for (int c = n - 1; c > first; c--) {
      int token = tokenOf(candidates[c]);
      cumulative += probabilities[token];
      if (r < cumulative) {
        return token;
      }
    }
    return tokenOf(candidates[first]);
  }

  /**
   * A long that sorts by probability, then by lower token id first among equal probabilities
   * (ascending order puts both last): the float bits of a non-negative probability order like the
   * probability itself, and the low half holds the inverted id.
   */
  private static long candidateKey(double probability, int token) {
    return ((long) Float.floatToRawIntBits((float) probability) << 32) | (0xFFFF_FFFFL - token);
  }

  private static int tokenOf(long key) {
    return (int) (0xFFFF_FFFFL - (key & 0xFFFF_FFFFL));
  }

  /** The index of the largest logit, the lowest one among ties; NaN is refused. */
  private static int argmax(float[] logits) {
    int best = 0;
    for (int i = 0; i < logits.length; i++) {
      if (Float.isNaN(logits[i])) {
        throw new IllegalArgumentException("logit " + i + " is NaN");
      }
      if (logits[i] > logits[best]) {
        best = i;
      }
    }
    return best;
  }

  @Override
  public String toString() {
    return isGreedy()
        ? "greedy"
        : String.format(Locale.ROOT, "temperature %s, top-p %s, seed %d", temperature, topP, seed);
  }
}
