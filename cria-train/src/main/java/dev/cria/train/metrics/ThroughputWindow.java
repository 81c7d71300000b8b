package dev.cria.train.metrics;

/**
 * Throughput over the last {@code size} steps, as NeMo's {@code throughput} metric: samples over
 * the seconds those steps took. Also keeps the peak.
 */
public final class ThroughputWindow {
  private final double[] seconds;
  private final long[] samples;
  private int count;
  private int next;
  private double peak;

  public ThroughputWindow(int size) {
    if (size < 1) {
      throw new IllegalArgumentException("window size must be positive");
    }
    this.seconds = new double[size];
    this.samples = new long[size];
  }

  /** Records one step; returns the windowed rate in samples per second. */
  public double add(long stepSamples, double stepSeconds) {
    seconds[next] = stepSeconds;
    samples[next] = stepSamples;
    next = (next + 1) % seconds.length;
    count = Math.min(count + 1, seconds.length);
    double rate = rate();
    peak = Math.max(peak, rate);
    return rate;
  }

  /** Samples per second over the window (0 before the first step). */
  public double rate() {
    double s = 0;
    long n = 0;
    for (int i = 0; i < count; i++) {
      s += seconds[i];
      n += samples[i];
    }
    return s > 0 ? n / s : 0;
  }

  /** Mean seconds per step over the window. */
  public double meanStepSeconds() {
    double s = 0;
    for (int i = 0; i < count; i++) {
      s += seconds[i];
    }
    return count == 0 ? 0 : s / count;
  }

  public double peak() {
    return peak;
  }
}
