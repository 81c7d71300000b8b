package dev.cria.train.config;

import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.engine.model.LlamaConfig;

/** The model a config's {@code model} section describes: a preset, its fields overridden. */
public final class ModelShape {
  private ModelShape() {}

  /** The preset with the config's overrides and the tokenizer's vocabulary. */
  public static LlamaConfig of(TrainConfig.Model m, Tokenizer tokenizer) {
    LlamaConfig p;
    try {
      p = LlamaConfig.preset(m.preset());
    } catch (IllegalArgumentException e) {
      throw new ConfigException("model.preset: " + e.getMessage());
    }
    int dim = m.hiddenSize() != null ? m.hiddenSize() : p.dim();
    int heads = m.numAttentionHeads() != null ? m.numAttentionHeads() : p.heads();
    int kvHeads =
        m.numQueryGroups() != null
            ? m.numQueryGroups()
            : m.numAttentionHeads() != null ? heads : p.kvHeads();
    int ffn =
        m.ffnHiddenSize() != null
            ? m.ffnHiddenSize()
            : m.hiddenSize() != null ? LlamaConfig.ffnDim(dim, 32, null) : p.ffnDim();
    int layers = m.numLayers() != null ? m.numLayers() : p.layers();
    int maxSeq = m.maxPositionEmbeddings() != null ? m.maxPositionEmbeddings() : p.maxSeqLen();
    int vocab = tokenizer != null ? tokenizer.vocabSize() : p.vocabSize();
    try {
      return new LlamaConfig(
          dim,
          layers,
          heads,
          kvHeads,
          ffn,
          vocab,
          m.layernormEpsilon() != null ? m.layernormEpsilon().floatValue() : p.normEps(),
          m.rotaryBase() != null ? m.rotaryBase().floatValue() : p.ropeTheta(),
          maxSeq);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("model: " + e.getMessage());
    }
  }
}
