package dev.cria.data.gpt;

/** Training samples in a fixed order: one dataset's split, or a weighted blend of several. */
public interface GptSamples {
  /** Samples available. */
  long size();

  /** Tokens per sample without the extra label token. */
  int seqLength();

  /** Copies the {@code seqLength() + 1} tokens of sample {@code i} into {@code out[at..]}. */
  void sample(long i, int[] out, int at);
}
