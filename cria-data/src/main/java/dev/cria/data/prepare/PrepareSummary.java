package dev.cria.data.prepare;

import java.nio.file.Path;
import java.util.List;

/**
 * What a finished {@link PreparePipeline} run did.
 *
 * @param lines documents parsed from the input
 * @param blankLines whitespace-only lines skipped
 * @param badLines bad lines skipped (only with skip-bad-lines)
 * @param badLineExamples the messages of the first few bad lines skipped
 * @param datasets one entry per JSON key
 * @param textBytes bytes of JSON read
 * @param seconds wall-clock time
 */
public record PrepareSummary(
    long lines,
    long blankLines,
    long badLines,
    List<String> badLineExamples,
    List<Dataset> datasets,
    long textBytes,
    double seconds) {

  /**
   * One written dataset.
   *
   * @param documents documents written
   * @param emptyDocuments documents skipped because they had no tokens
   * @param tokens tokens written, EOS included
   */
  public record Dataset(
      String key, Path prefix, long documents, long emptyDocuments, long tokens) {}

  /** Tokens written over all keys. */
  public long tokens() {
    return datasets.stream().mapToLong(Dataset::tokens).sum();
  }

  public double tokensPerSecond() {
    return seconds > 0 ? tokens() / seconds : 0;
  }
}
