package dev.cria.data.tokenizer;

/**
 * The ids of the special tokens; -1 where a tokenizer has none (Llama has no pad token).
 *
 * @param unk the unknown token, {@code <unk>}
 * @param bos beginning of sequence, {@code <s>}
 * @param eos end of sequence, {@code </s>}: what {@code prepare --append-eod} appends
 * @param pad padding
 */
public record SpecialTokens(int unk, int bos, int eos, int pad) {
  /** Llama's layout: {@code <unk>}=0, {@code <s>}=1, {@code </s>}=2, no pad. */
  public static SpecialTokens llama() {
    return new SpecialTokens(0, 1, 2, -1);
  }
}
