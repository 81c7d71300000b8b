package dev.cria.data.gpt;

import java.util.function.LongToIntFunction;

/**
 * Builds {@link GptIndices} exactly as Megatron-Core's {@code GPTDataset} does (its {@code
 * _build_document_sample_shuffle_indices} and the C++ {@code build_sample_idx}), so that the same
 * data, split, sequence length and seed give the same samples in the same order.
 *
 * <p>Every sample is {@code seqLength + addExtraToken} tokens long and consecutive samples overlap
 * by {@code addExtraToken} tokens (the extra token is the last label).
 */
public final class GptIndexBuilder {
  /** Megatron uses its last epoch in the global shuffle only when at least 80% of it is needed. */
  private static final double SEPARATE_FINAL_EPOCH_THRESHOLD = 0.80;

  private GptIndexBuilder() {}

  /**
   * What to build.
   *
   * @param firstDocument first document (sequence) of the split
   * @param endDocument one past its last document
   * @param samples samples requested, or -1 for one epoch (Megatron's {@code num_samples=None})
   * @param seqLength tokens per sample, without the extra token
   * @param seed the RandomState seed
   * @param addExtraToken 1 as in Megatron: each sample has one more token for the shifted labels
   * @param dropLastPartialSequence drop a final sample shorter than the others (true for train)
   */
  public record Request(
      long firstDocument,
      long endDocument,
      long samples,
      int seqLength,
      long seed,
      int addExtraToken,
      boolean dropLastPartialSequence) {
    public Request {
      if (firstDocument < 0 || endDocument <= firstDocument) {
        throw new IllegalArgumentException(
            "empty document range " + firstDocument + ".." + endDocument);
      }
      if (endDocument - firstDocument > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("more than 2^31 documents in one split");
      }
      if (seqLength < 2) {
        throw new IllegalArgumentException("sequence length must be at least 2, got " + seqLength);
      }
      if (samples < -1 || addExtraToken < 0) {
        throw new IllegalArgumentException(
            "bad samples " + samples + " or extra token " + addExtraToken);
      }
    }
  }

  /**
   * The sizes that decide the indices, cheap to compute.
   *
   * @param samplesBeforeFinalEpoch samples that fit in all epochs but the last (when more than one)
   */
  public record Plan(
      long tokensPerEpoch, int epochs, boolean separateFinalEpoch, long samplesBeforeFinalEpoch) {}

  /** Counts the split's tokens and derives the epochs and the separate-final-epoch rule. */
  public static Plan plan(Request r, LongToIntFunction sizes) {
    long tokensPerEpoch = 0;
    for (long d = r.firstDocument(); d < r.endDocument(); d++) {
      tokensPerEpoch += sizes.applyAsInt(d);
    }
    if (tokensPerEpoch <= r.addExtraToken()) {
      throw new IllegalArgumentException(
          "documents "
              + r.firstDocument()
              + ".."
              + r.endDocument()
              + " hold "
              + tokensPerEpoch
              + " tokens, too few for one sample");
    }
    int epochs = epochs(r, tokensPerEpoch);
    boolean separate = false;
    long samplesBeforeFinalEpoch = 0;
    if (epochs > 1) {
      samplesBeforeFinalEpoch = ((epochs - 1) * tokensPerEpoch - r.addExtraToken()) / r.seqLength();
      long fromFinalEpoch = r.samples() - samplesBeforeFinalEpoch;
      long perEpoch = (tokensPerEpoch - r.addExtraToken()) / r.seqLength();
      separate = fromFinalEpoch < (long) (SEPARATE_FINAL_EPOCH_THRESHOLD * perEpoch);
    }
    return new Plan(tokensPerEpoch, epochs, separate, samplesBeforeFinalEpoch);
  }

  /** Builds the indices; {@code sizes} gives the token count of each document id. */
  public static GptIndices build(Request r, LongToIntFunction sizes) {
    Plan p = plan(r, sizes);
    int documents = (int) (r.endDocument() - r.firstDocument());
    NumpyRandom random = new NumpyRandom(r.seed());
    int[] documentIndex =
        documentIndex(r.firstDocument(), documents, p.epochs(), random, p.separateFinalEpoch());
    long[] sampleIndex =
        sampleIndex(
            sizes,
            documentIndex,
            r.seqLength(),
            p.epochs(),
            p.tokensPerEpoch(),
            r.dropLastPartialSequence(),
            r.addExtraToken());
    long samples = sampleIndex.length / 2 - 1;
    long[] shuffleIndex =
        shuffleIndex(
            p.separateFinalEpoch() ? p.samplesBeforeFinalEpoch() : samples, samples, random);
    return new GptIndices(
        documentIndex,
        sampleIndex,
        shuffleIndex,
        p.epochs(),
        p.tokensPerEpoch(),
        p.separateFinalEpoch());
  }

  private static int epochs(Request r, long tokensPerEpoch) {
    if (r.samples() < 0) {
      return 1;
    }
    long requested = r.samples() * r.seqLength() + r.addExtraToken();
    int epochs = 1;
    long tokens = tokensPerEpoch;
    while (tokens < requested) {
      epochs++;
      tokens += tokensPerEpoch;
    }
    return epochs;
  }

  /** Every document once per epoch, shuffled; the last epoch shuffled on its own when separate. */
  private static int[] documentIndex(
      long first, int documents, int epochs, NumpyRandom random, boolean separate) {
    if (!separate || epochs == 1) {
      long length = (long) documents * epochs;
      if (length > Integer.MAX_VALUE - 8) {
        throw new IllegalArgumentException("document index of " + length + " entries is too large");
      }
      int[] index = new int[(int) length];
      for (int e = 0; e < epochs; e++) {
        for (int d = 0; d < documents; d++) {
          index[e * documents + d] = Math.toIntExact(first + d);
        }
      }
      random.shuffle(index);
      return index;
    }
    int[] head = documentIndex(first, documents, epochs - 1, random, false);
    int[] last = documentIndex(first, documents, 1, random, false);
    int[] index = new int[head.length + last.length];
    System.arraycopy(head, 0, index, 0, head.length);
    System.arraycopy(last, 0, index, head.length, last.length);
    return index;
  }

  /**
   * Megatron's {@code build_sample_idx}: where each sample starts in the concatenated documents.
   */
  private static long[] sampleIndex(
      LongToIntFunction sizes,
      int[] documentIndex,
      int seqLength,
      int epochs,
      long tokensPerEpoch,
      boolean dropLast,
      int extra) {
    long tokens = epochs * tokensPerEpoch - extra;
    long samples = dropLast ? tokens / seqLength : (tokens + seqLength - 1) / seqLength;
    if (2 * (samples + 1) > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(samples + " samples are too many for one index");
    }
    long[] index = new long[(int) (2 * (samples + 1))];
    int position = 0; // into documentIndex
    long offset = 0; // into that document
    index[0] = 0;
    index[1] = 0;
    for (long s = 1; s <= samples; s++) {
      long remaining = seqLength + extra;
      while (remaining != 0) {
        long length = sizes.applyAsInt(documentIndex[position]) - offset;
        remaining -= length;
        if (remaining <= 0) {
          offset += remaining + length - extra;
          remaining = 0;
        } else if (position == documentIndex.length - 1) {
          // Out of documents: only the last (partial) sample can get here.
          offset = sizes.applyAsInt(documentIndex[position]) - extra;
          break;
        } else {
          position++;
          offset = 0;
        }
      }
      index[(int) (2 * s)] = position;
      index[(int) (2 * s + 1)] = offset;
    }
    return index;
  }

  /** {@code [0, head)} shuffled, then {@code [head, total)} shuffled on its own. */
  private static long[] shuffleIndex(long head, long total, NumpyRandom random) {
    long[] first = new long[(int) head];
    for (int i = 0; i < first.length; i++) {
      first[i] = i;
    }
    random.shuffle(first);
    if (head == total) {
      return first;
    }
    long[] rest = new long[(int) (total - head)];
    for (int i = 0; i < rest.length; i++) {
      rest[i] = head + i;
    }
    random.shuffle(rest);
    long[] all = new long[(int) total];
    System.arraycopy(first, 0, all, 0, first.length);
    System.arraycopy(rest, 0, all, first.length, rest.length);
    return all;
  }
}
