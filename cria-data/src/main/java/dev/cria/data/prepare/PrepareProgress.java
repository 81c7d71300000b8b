package dev.cria.data.prepare;

/**
 * A snapshot of a running {@link PreparePipeline}, for progress displays.
 *
 * @param documents documents written so far (lines parsed, over all keys counted once)
 * @param tokens tokens written so far, all keys
 * @param textBytes bytes of JSON lines consumed
 * @param inputBytesDone bytes of the input files (as stored) consumed
 * @param inputBytesTotal bytes of the input files (as stored) in all
 * @param seconds time since the start
 */
public record PrepareProgress(
    long documents,
    long tokens,
    long textBytes,
    long inputBytesDone,
    long inputBytesTotal,
    double seconds) {

  /** Fraction of the input consumed, 0..1. */
  public double fraction() {
    return inputBytesTotal == 0 ? 1.0 : Math.min(1.0, (double) inputBytesDone / inputBytesTotal);
  }

  /** Estimated seconds left, from the rate so far; NaN until something is done. */
  public double etaSeconds() {
    double f = fraction();
    return f <= 0 ? Double.NaN : seconds * (1 - f) / f;
  }
}
