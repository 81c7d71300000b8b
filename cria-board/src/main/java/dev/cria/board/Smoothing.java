package dev.cria.board;

/**
 * TensorBoard's scalar smoothing: an exponential moving average with weight {@code w}, debiased
 * (divided by {@code 1 - w^n} after {@code n} finite values) so the curve starts at the data, not
 * at zero. A value that is not finite is kept as it is and does not enter the average, as
 * TensorBoard does.
 */
public final class Smoothing {
  private Smoothing() {}

  /** The smoothed series; {@code weight} in [0, 1), 0 leaves the values as they are. */
  public static double[] debiasedEma(double[] values, double weight) {
    if (weight < 0 || weight >= 1) {
      throw new IllegalArgumentException("smoothing must be in [0, 1), got " + weight);
    }
    double[] out = new double[values.length];
    double last = 0;
    int accumulated = 0;
    for (int i = 0; i < values.length; i++) {
      double v = values[i];
      if (!Double.isFinite(v)) {
        out[i] = v;
        continue;
      }
      last = last * weight + (1 - weight) * v;
      accumulated++;
      double debias = weight == 0 ? 1 : 1 - Math.pow(weight, accumulated);
      out[i] = last / debias;
    }
    return out;
  }
}
