package dev.cria.data.gpt;

import dev.cria.data.indexed.IndexedDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * One split of a Megatron indexed dataset served as GPT samples, in Megatron-Core's order: sample
 * {@code i} is {@code seqLength + 1} tokens (inputs are the first {@code seqLength}, labels the
 * last {@code seqLength}), read from the memory-mapped {@code .bin} through the cached indices.
 */
public final class GptDataset implements GptSamples {
  /** Megatron's {@code add_extra_token_to_sequence}: the last label of each sample. */
  public static final int EXTRA_TOKEN = 1;

  private final IndexedDataset data;
  private final Split split;
  private final int seqLength;
  private final GptIndices indices;
  private final boolean fromCache;

  private GptDataset(
      IndexedDataset data, Split split, int seqLength, GptIndices indices, boolean fromCache) {
    this.data = data;
    this.split = split;
    this.seqLength = seqLength;
    this.indices = indices;
    this.fromCache = fromCache;
  }

  /**
   * The {@code split} of {@code data} with at least {@code samples} samples (more epochs when
   * needed; -1 for one epoch), using {@code cache} for the indices.
   *
   * @throws IllegalArgumentException when the split is empty or too small for one sample
   */
  public static GptDataset open(
      IndexedDataset data,
      SplitRanges ranges,
      Split split,
      long samples,
      int seqLength,
      long seed,
      GptIndexCache cache)
      throws IOException {
    if (!ranges.present(split)) {
      throw new IllegalArgumentException(
          "split '"
              + ranges.text()
              + "' leaves no "
              + split.label()
              + " documents in "
              + data.prefix()
              + " ("
              + data.sequenceCount()
              + " documents)");
    }
    GptIndexBuilder.Request request =
        new GptIndexBuilder.Request(
            ranges.begin(split), ranges.end(split), samples, seqLength, seed, EXTRA_TOKEN, true);
    GptIndexCache.Loaded loaded =
        cache.load(describe(data, ranges, split, request), split, request, data::size);
    return new GptDataset(data, split, seqLength, loaded.indices(), loaded.fromCache());
  }

  /**
   * Everything the indices depend on, as Megatron's unique description; its hash names the cache.
   */
  static String describe(
      IndexedDataset data, SplitRanges ranges, Split split, GptIndexBuilder.Request r)
      throws IOException {
    Path prefix = data.prefix().toAbsolutePath().normalize();
    Path idx = Path.of(prefix + ".idx");
    Path bin = Path.of(prefix + ".bin");
    return String.format(
        Locale.ROOT,
        """
        {
          "class": "GPTDataset",
          "dataset_path": "%s",
          "idx_bytes": %d,
          "idx_modified": "%s",
          "bin_bytes": %d,
          "split": "%s",
          "index_split": "%s",
          "documents": [%d, %d],
          "num_samples": %d,
          "sequence_length": %d,
          "random_seed": %d,
          "add_extra_token_to_sequence": %d,
          "drop_last_partial_sequence": %b
        }
        """,
        prefix.toString().replace("\\", "\\\\").replace("\"", "\\\""),
        Files.size(idx),
        Files.getLastModifiedTime(idx),
        Files.size(bin),
        ranges.text().replace("\"", "'"),
        split.label(),
        r.firstDocument(),
        r.endDocument(),
        r.samples(),
        r.seqLength(),
        r.seed(),
        r.addExtraToken(),
        r.dropLastPartialSequence());
  }

  public Split split() {
    return split;
  }

  @Override
  public int seqLength() {
    return seqLength;
  }

  public GptIndices indices() {
    return indices;
  }

  /** Whether the indices came from the cache rather than being built now. */
  public boolean fromCache() {
    return fromCache;
  }

  /** Samples available (at least the number requested). */
  @Override
  public long size() {
    return indices.samples();
  }

  /** Copies the {@code seqLength + 1} tokens of sample {@code i} into {@code out[at..]}. */
  @Override
  public void sample(long i, int[] out, int at) {
    if (i < 0 || i >= size()) {
      throw new IndexOutOfBoundsException("sample " + i + " of " + size());
    }
    int s = (int) indices.shuffleIndex()[(int) i];
    long[] sampleIndex = indices.sampleIndex();
    int[] documentIndex = indices.documentIndex();
    int firstDoc = (int) sampleIndex[2 * s];
    int firstOffset = (int) sampleIndex[2 * s + 1];
    int lastDoc = (int) sampleIndex[2 * s + 2];
    int lastOffset = (int) sampleIndex[2 * s + 3];
    int filled = 0;
    for (int d = firstDoc; d <= lastDoc; d++) {
      long document = documentIndex[d];
      int from = d == firstDoc ? firstOffset : 0;
      int to = d == lastDoc ? lastOffset + EXTRA_TOKEN : data.size(document);
      data.read(document, from, to - from, out, at + filled);
      filled += to - from;
    }
    if (filled != seqLength + EXTRA_TOKEN) {
      throw new IllegalStateException(
          "sample " + i + " has " + filled + " tokens, expected " + (seqLength + 1));
    }
  }
}
