package dev.cria.engine.model;

/**
 * Which slice of a model one rank of a tensor-parallel group holds, as Megatron-Core cuts a Llama:
 * of {@code parts} ranks, rank {@code index} holds attention heads {@code [index * H / parts,
 * (index + 1) * H / parts)} (and as many of the key/value heads), the same share of the MLP's
 * hidden units and of the vocabulary, and every norm whole.
 *
 * @param parts how many ranks share the model (the tensor-parallel size), at least 1
 * @param index this rank's place among them, in {@code [0, parts)}
 */
public record ModelSlice(int parts, int index) {
  /** The whole model, on one rank. */
  public static final ModelSlice WHOLE = new ModelSlice(1, 0);

  public ModelSlice {
    if (parts < 1 || index < 0 || index >= parts) {
      throw new IllegalArgumentException(
          "slice " + index + " of " + parts + ": need at least 1 part and an index below it");
    }
  }

  /** Whether this is the whole model ({@code parts == 1}). */
  public boolean whole() {
    return parts == 1;
  }

  /**
   * Throws unless {@code parts} divides what tensor parallelism cuts in {@code config}: the
   * attention heads, the key/value heads, the MLP's hidden size and the vocabulary, naming the
   * numbers.
   */
  public void requireFits(LlamaConfig config) {
    requireDivides(config.heads(), "attention heads");
    requireDivides(config.kvHeads(), "key/value heads");
    requireDivides(config.ffnDim(), "MLP hidden units (ffn)");
    requireDivides(config.vocabSize(), "vocabulary entries");
  }

  private void requireDivides(int count, String what) {
    if (count % parts != 0) {
      throw new IllegalArgumentException(
          "tensor parallelism "
              + parts
              + " does not divide the model's "
              + count
              + " "
              + what
              + ": each of the "
              + parts
              + " ranks must hold an equal share");
    }
  }

  /** This slice's first of {@code count} items cut evenly into {@link #parts}. */
  public int first(int count) {
    return count / parts * index;
  }
}
