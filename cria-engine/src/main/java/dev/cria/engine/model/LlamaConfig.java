package dev.cria.engine.model;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The shape of a Llama model.
 *
 * @param dim model width D
 * @param layers transformer blocks L
 * @param heads query heads H (head size D/H)
 * @param kvHeads key/value heads (grouped-query attention when fewer than heads)
 * @param ffnDim hidden size F of the SwiGLU MLP
 * @param vocabSize vocabulary V
 * @param normEps RMSNorm epsilon
 * @param ropeTheta RoPE base
 * @param maxSeqLen longest sequence the model is meant for
 */
public record LlamaConfig(
    int dim,
    int layers,
    int heads,
    int kvHeads,
    int ffnDim,
    int vocabSize,
    float normEps,
    float ropeTheta,
    int maxSeqLen) {

  public LlamaConfig {
    require(
        dim > 0
            && layers > 0
            && heads > 0
            && kvHeads > 0
            && ffnDim > 0
            && vocabSize > 0
            && maxSeqLen > 0,
        "all sizes must be positive");
    require(dim % heads == 0, "dim " + dim + " is not a multiple of heads " + heads);
    require(heads % kvHeads == 0, "heads " + heads + " is not a multiple of kv heads " + kvHeads);
    require((dim / heads) % 2 == 0, "head size " + dim / heads + " must be even for RoPE");
    require(normEps > 0, "norm eps must be positive");
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException("invalid Llama config: " + message);
    }
  }

  /**
   * Meta's FFN size rule: {@code 2/3 * 4 * dim}, times {@code multiplier} when given, rounded up to
   * a multiple of {@code multipleOf}.
   */
  public static int ffnDim(int dim, int multipleOf, Double multiplier) {
    int hidden = 2 * (4 * dim) / 3;
    if (multiplier != null) {
      hidden = (int) (multiplier * hidden);
    }
    return multipleOf * ((hidden + multipleOf - 1) / multipleOf);
  }

  private static LlamaConfig meta(
      int dim, int layers, int heads, int kvHeads, int multipleOf, Double multiplier) {
    return new LlamaConfig(
        dim,
        layers,
        heads,
        kvHeads,
        ffnDim(dim, multipleOf, multiplier),
        32000,
        1e-5f,
        10000f,
        4096);
  }

  /** The presets by name: Meta's published shapes and two CPU-sized models. */
  public static final Map<String, LlamaConfig> PRESETS =
      Map.of(
          "llama2-7b", meta(4096, 32, 32, 32, 256, null),
          "llama2-13b", meta(5120, 40, 40, 40, 256, null),
          "llama2-70b", meta(8192, 80, 64, 8, 4096, 1.3),
          "tiny", new LlamaConfig(288, 6, 6, 6, ffnDim(288, 32, null), 32000, 1e-5f, 10000f, 256),
          "small", new LlamaConfig(512, 8, 8, 8, ffnDim(512, 32, null), 32000, 1e-5f, 10000f, 512));

  /** The preset called {@code name}; the message lists the known ones otherwise. */
  public static LlamaConfig preset(String name) {
    LlamaConfig c = PRESETS.get(name.toLowerCase(Locale.ROOT));
    if (c == null) {
      throw new IllegalArgumentException(
          "unknown model preset '"
              + name
              + "'; known: "
              + List.copyOf(new java.util.TreeSet<>(PRESETS.keySet())));
    }
    return c;
  }

  public int headDim() {
    return dim / heads;
  }

  /** Width of the key and value projections: kv heads times head size. */
  public int kvDim() {
    return kvHeads * headDim();
  }

  /** The same model with another vocabulary (the tokenizer's). */
  public LlamaConfig withVocabSize(int vocab) {
    return new LlamaConfig(
        dim, layers, heads, kvHeads, ffnDim, vocab, normEps, ropeTheta, maxSeqLen);
  }

  public LlamaConfig withMaxSeqLen(int seqLen) {
    return new LlamaConfig(
        dim, layers, heads, kvHeads, ffnDim, vocabSize, normEps, ropeTheta, seqLen);
  }

  /** Parameters in the matrices of the blocks and the LM head (not embeddings, not norms). */
  public long matmulParameterCount() {
    long perLayer = (long) dim * dim * 2 + 2L * dim * kvDim() + 3L * dim * ffnDim;
    return perLayer * layers + (long) vocabSize * dim;
  }

  /** "Llama d=288 L=6 heads=6 kv=6 ffn=768 vocab=32000, 24,407,712 parameters", for logs. */
  public String describe() {
    return String.format(
        java.util.Locale.ROOT,
        "Llama d=%d L=%d heads=%d kv=%d ffn=%d vocab=%d, %,d parameters",
        dim,
        layers,
        heads,
        kvHeads,
        ffnDim,
        vocabSize,
        parameterCount());
  }

  /** All parameters: embeddings, blocks, norms, LM head (untied, as Llama-2). */
  public long parameterCount() {
    return matmulParameterCount() + (long) vocabSize * dim + (2L * layers + 1) * dim;
  }

  /**
   * Training FLOPs per token at sequence length {@code seqLen}: 6 per matmul parameter (forward and
   * backward) plus causal attention's {@code 6 * L * T * D} (half of the full 12 L T D).
   */
  public double trainingFlopsPerToken(int seqLen) {
    return 6.0 * matmulParameterCount() + 6.0 * layers * (double) seqLen * dim;
  }
}
