package dev.cria.board;

import java.util.Arrays;

/**
 * One scalar tag of one run: steps in increasing order, each with its wall time and value.
 *
 * @param wallTimes seconds since the epoch
 */
public record Series(String tag, long[] steps, double[] wallTimes, double[] values) {
  public int size() {
    return steps.length;
  }

  /**
   * At most {@code maxPoints} of the points, for display: Largest-Triangle-Three-Buckets, which
   * keeps the first and last points and the shape of spikes. The whole series when it is small.
   */
  public Series downsampled(int maxPoints) {
    int n = size();
    if (maxPoints >= n || maxPoints < 3) {
      return this;
    }
    int[] keep = new int[maxPoints];
    keep[0] = 0;
    double bucket = (double) (n - 2) / (maxPoints - 2);
    int a = 0;
    for (int i = 0; i < maxPoints - 2; i++) {
      int start = (int) Math.floor(i * bucket) + 1;
      int end = (int) Math.min(n - 1, Math.floor((i + 1) * bucket) + 1);
      int nextStart = end;
      int nextEnd = (int) Math.min(n, Math.floor((i + 2) * bucket) + 1);
      double avgX = 0;
      double avgY = 0;
      int count = Math.max(1, nextEnd - nextStart);
      for (int j = nextStart; j < nextEnd; j++) {
        avgX += steps[j];
        avgY += values[j];
      }
      avgX /= count;
      avgY /= count;
      double best = -1;
      int chosen = start;
      for (int j = start; j < end; j++) {
        double area =
            Math.abs(
                (steps[a] - avgX) * (values[j] - values[a])
                    - (steps[a] - steps[j]) * (avgY - values[a]));
        if (area > best) {
          best = area;
          chosen = j;
        }
      }
      keep[i + 1] = chosen;
      a = chosen;
    }
    keep[maxPoints - 1] = n - 1;
    long[] s = new long[maxPoints];
    double[] w = new double[maxPoints];
    double[] v = new double[maxPoints];
    for (int i = 0; i < maxPoints; i++) {
      s[i] = steps[keep[i]];
      w[i] = wallTimes[keep[i]];
      v[i] = values[keep[i]];
    }
    return new Series(tag, s, w, v);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Series s
        && tag.equals(s.tag)
        && Arrays.equals(steps, s.steps)
        && Arrays.equals(wallTimes, s.wallTimes)
        && Arrays.equals(values, s.values);
  }

  @Override
  public int hashCode() {
    return tag.hashCode() * 31 + Arrays.hashCode(steps);
  }
}
