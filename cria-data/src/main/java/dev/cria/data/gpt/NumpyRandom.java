package dev.cria.data.gpt;

/**
 * numpy's legacy {@code np.random.RandomState(seed)}: the MT19937 Mersenne Twister seeded with
 * {@code init_genrand}, its bounded integers by bitmask rejection, and its Fisher-Yates {@code
 * shuffle}. Megatron shuffles documents and samples with it, so reproducing Megatron's sample order
 * needs it bit for bit. Not thread-safe.
 */
public final class NumpyRandom {
  private static final int N = 624;
  private static final int M = 397;
  private static final int MATRIX_A = 0x9908B0DF;
  private static final int UPPER_MASK = 0x80000000;
  private static final int LOWER_MASK = 0x7FFFFFFF;

  private final int[] mt = new int[N];
  private int index;

  /** {@code RandomState(seed)} for a seed in [0, 2^32). */
  public NumpyRandom(long seed) {
    if (seed < 0 || seed > 0xFFFFFFFFL) {
      throw new IllegalArgumentException("seed must be in [0, 2^32), got " + seed);
    }
    mt[0] = (int) seed;
    for (int i = 1; i < N; i++) {
      mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
    }
    index = N;
  }

  /** The next 32 random bits, as an unsigned value in a long (numpy's {@code rk_random}). */
  public long nextUnsigned32() {
    if (index >= N) {
      generate();
    }
    int y = mt[index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9D2C5680;
    y ^= (y << 15) & 0xEFC60000;
    y ^= y >>> 18;
    return y & 0xFFFFFFFFL;
  }

  private void generate() {
    for (int k = 0; k < N; k++) {
      int y = (mt[k] & UPPER_MASK) | (mt[(k + 1) % N] & LOWER_MASK);
      mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
    }
    index = 0;
  }

  /**
   * A uniform integer in [0, max] (numpy's {@code rk_interval}): the random bits masked to the
   * smallest all-ones mask covering {@code max}, redrawn while above it. 64-bit values take two
   * draws, high word first, as numpy does.
   */
  public long interval(long max) {
    if (max < 0) {
      throw new IllegalArgumentException("max must be non-negative, got " + max);
    }
    if (max == 0) {
      return 0;
    }
    long mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask |= mask >>> 32;
    long value;
    if (max <= 0xFFFFFFFFL) {
      do {
        value = nextUnsigned32() & mask;
      } while (value > max);
    } else {
      do {
        value = ((nextUnsigned32() << 32) | nextUnsigned32()) & mask;
      } while (value > max);
    }
    return value;
  }

  /** numpy's {@code RandomState.shuffle} of a one-dimensional array, in place. */
  public void shuffle(long[] values) {
    for (int i = values.length - 1; i > 0; i--) {
      int j = (int) interval(i);
      long t = values[i];
      values[i] = values[j];
      values[j] = t;
    }
  }

  /** numpy's {@code RandomState.shuffle} of a one-dimensional array, in place. */
  public void shuffle(int[] values) {
    for (int i = values.length - 1; i > 0; i--) {
      int j = (int) interval(i);
      int t = values[i];
      values[i] = values[j];
      values[j] = t;
    }
  }
}
