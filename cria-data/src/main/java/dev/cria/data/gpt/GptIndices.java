package dev.cria.data.gpt;

/**
 * The three indices that define Megatron-Core's GPT samples.
 *
 * @param documentIndex document ids in the order they are concatenated, over all epochs
 * @param sampleIndex {@code [samples + 1][2]} flattened: for each sample boundary, the position in
 *     {@code documentIndex} and the token offset inside that document
 * @param shuffleIndex the order in which samples are served: sample {@code i} of the dataset is
 *     sample {@code shuffleIndex[i]} of {@code sampleIndex}
 * @param epochs passes over the split's documents
 * @param tokensPerEpoch tokens in the split's documents
 * @param separateFinalEpoch whether the last epoch was shuffled apart (Megatron's rule for a last
 *     epoch that is used less than 80%)
 */
public record GptIndices(
    int[] documentIndex,
    long[] sampleIndex,
    long[] shuffleIndex,
    int epochs,
    long tokensPerEpoch,
    boolean separateFinalEpoch) {

  /** Samples available: the length of the shuffle index. */
  public long samples() {
    return shuffleIndex.length;
  }
}
