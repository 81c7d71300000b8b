package dev.cria.data.gpt;

/**
 * The inputs and labels of one micro-batch, filled from a sample order: {@code tokens} holds the
 * first {@code seq} tokens of each sample, {@code targets} the last {@code seq} (the same tokens
 * shifted by one). Reused from step to step; nothing is allocated when it is filled.
 */
public final class MicroBatch {
  private final int size;
  private final int seq;
  private final int[] window;
  private final int[] tokens;
  private final int[] targets;

  /** Buffers for {@code size} samples of {@code seq} tokens (each read as {@code seq + 1}). */
  public MicroBatch(int size, int seq) {
    if (size < 1 || seq < 1) {
      throw new IllegalArgumentException("a micro-batch of " + size + " x " + seq + " tokens");
    }
    this.size = size;
    this.seq = seq;
    this.window = new int[seq + 1];
    this.tokens = new int[Math.multiplyExact(size, seq)];
    this.targets = new int[tokens.length];
  }

  /**
   * Fills the buffers with samples {@code first .. first + size} of {@code samples}; returns this.
   */
  public MicroBatch load(GptSamples samples, long first) {
    for (int b = 0; b < size; b++) {
      samples.sample(first + b, window, 0);
      System.arraycopy(window, 0, tokens, b * seq, seq);
      System.arraycopy(window, 1, targets, b * seq, seq);
    }
    return this;
  }

  /** {@code [size x seq]} input token ids, as filled last. */
  public int[] tokens() {
    return tokens;
  }

  /** {@code [size x seq]} label ids, as filled last. */
  public int[] targets() {
    return targets;
  }
}
