package dev.cria.data.gpt;

import java.util.List;

/**
 * Megatron-Core's {@code BlendedDataset}: samples drawn from several datasets in proportion to
 * their weights, in the order of its {@code build_blending_indices}: sample {@code i} comes from
 * the dataset whose share so far lags its weight the most (ties to the first), and takes that
 * dataset's next sample.
 */
public final class BlendedGptSamples implements GptSamples {
  /**
   * Megatron builds each part a little larger than its share ({@code mid_level_dataset_surplus}).
   */
  public static final double SURPLUS = 0.005;

  private final List<? extends GptSamples> parts;
  private final short[] datasetIndex;
  private final long[] datasetSampleIndex;

  private BlendedGptSamples(
      List<? extends GptSamples> parts, short[] datasetIndex, long[] datasetSampleIndex) {
    this.parts = parts;
    this.datasetIndex = datasetIndex;
    this.datasetSampleIndex = datasetSampleIndex;
  }

  /**
   * Blends {@code parts} with {@code weights} into {@code size} samples; every part must hold the
   * samples it is asked for. The weights are normalized twice, as Megatron's builder and then its
   * {@code BlendedDataset} each do (which can move the last bit).
   */
  public static BlendedGptSamples of(
      List<? extends GptSamples> parts, double[] weights, long size) {
    if (parts.isEmpty() || parts.size() != weights.length || parts.size() >= Short.MAX_VALUE) {
      throw new IllegalArgumentException(
          "need one weight per dataset, got " + weights.length + " for " + parts.size());
    }
    int seq = parts.getFirst().seqLength();
    for (GptSamples p : parts) {
      if (p.seqLength() != seq) {
        throw new IllegalArgumentException("blended datasets differ in sequence length");
      }
    }
    if (size > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(size + " blended samples are too many for one index");
    }
    double[] w = normalize(normalize(weights));
    short[] datasetIndex = new short[(int) size];
    long[] datasetSampleIndex = new long[(int) size];
    long[] taken = new long[w.length];
    for (int i = 0; i < size; i++) {
      double at = Math.max(i, 1.0);
      int worst = 0;
      double worstError = w[0] * at - taken[0];
      for (int d = 1; d < w.length; d++) {
        double error = w[d] * at - taken[d];
        if (error > worstError) {
          worstError = error;
          worst = d;
        }
      }
      datasetIndex[i] = (short) worst;
      datasetSampleIndex[i] = taken[worst]++;
    }
    for (int d = 0; d < w.length; d++) {
      if (taken[d] > parts.get(d).size()) {
        throw new IllegalArgumentException(
            "dataset "
                + d
                + " of the blend has "
                + parts.get(d).size()
                + " samples but the blend takes "
                + taken[d]);
      }
    }
    return new BlendedGptSamples(List.copyOf(parts), datasetIndex, datasetSampleIndex);
  }

  /**
   * Samples to build for each part of a blend of {@code target} samples: Megatron's {@code
   * ceil(ceil(target * weight) * (1 + surplus))} with the normalized weights. With a surplus of 0
   * these are the parts' shares, whose sum is the size of the blend.
   */
  public static long[] partSizes(double[] weights, long target, double surplus) {
    double[] w = normalize(weights);
    long[] sizes = new long[w.length];
    for (int d = 0; d < w.length; d++) {
      sizes[d] = (long) Math.ceil(Math.ceil(target * w[d]) * (1 + surplus));
    }
    return sizes;
  }

  /** numpy's {@code x / sum(x)}, with the sum taken left to right. */
  static double[] normalize(double[] weights) {
    double sum = 0;
    for (double w : weights) {
      if (!(w > 0) || Double.isInfinite(w)) {
        throw new IllegalArgumentException("blend weights must be positive, got " + w);
      }
      sum += w;
    }
    double[] out = new double[weights.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = weights[i] / sum;
    }
    return out;
  }

  /** Which dataset sample {@code i} comes from. */
  public int datasetOf(long i) {
    return datasetIndex[(int) i];
  }

  /** Which sample of that dataset it is. */
  public long sampleOf(long i) {
    return datasetSampleIndex[(int) i];
  }

  @Override
  public long size() {
    return datasetIndex.length;
  }

  @Override
  public int seqLength() {
    return parts.getFirst().seqLength();
  }

  @Override
  public void sample(long i, int[] out, int at) {
    parts.get(datasetIndex[(int) i]).sample(datasetSampleIndex[(int) i], out, at);
  }
}
