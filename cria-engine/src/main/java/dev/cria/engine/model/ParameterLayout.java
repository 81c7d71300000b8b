package dev.cria.engine.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where every parameter tensor lives in one flat float buffer (parameters, gradients and the two
 * Adam moments share this layout), with {@code long} offsets, and its Hugging Face name.
 *
 * <p>Order: embeddings; per layer the attention norm, q, k, v, o, the MLP norm, gate, up, down; the
 * final norm; the LM head. Linear weights are {@code [out, in]}, row-major.
 */
public final class ParameterLayout {
  /**
   * One tensor.
   *
   * @param name Hugging Face LlamaForCausalLM name
   * @param offset first element in the flat buffer
   * @param rows rows (1 for a vector)
   * @param cols columns
   * @param weightDecay whether AdamW decays it (not for norm weights)
   */
  public record Tensor(String name, long offset, int rows, int cols, boolean weightDecay) {
    public long size() {
      return (long) rows * cols;
    }

    public long end() {
      return offset + size();
    }
  }

  /** Parameters {@code [from, to)} of the flat buffer. */
  public record Range(long from, long to) {
    public Range {
      if (from < 0 || to < from) {
        throw new IllegalArgumentException("range [" + from + ", " + to + ")");
      }
    }

    public long size() {
      return to - from;
    }
  }

  /** Offsets of one transformer block's tensors. */
  public record Layer(
      long attentionNorm,
      long wq,
      long wk,
      long wv,
      long wo,
      long mlpNorm,
      long gate,
      long up,
      long down) {}

  private final LlamaConfig config;
  private final List<Tensor> tensors;
  private final Map<String, Tensor> byName;
  private final List<Layer> layers;
  private final long embeddings;
  private final long finalNorm;
  private final long lmHead;
  private final long size;
  private final List<Range> buckets;

  public ParameterLayout(LlamaConfig c) {
    this.config = c;
    List<Tensor> list = new ArrayList<>();
    long[] next = {0};
    java.util.function.BiFunction<String, int[], Long> add =
        (name, shape) -> {
          boolean decay = !name.endsWith("norm.weight");
          Tensor t = new Tensor(name, next[0], shape[0], shape[1], decay);
          list.add(t);
          next[0] = t.end();
          return t.offset();
        };
    int d = c.dim();
    embeddings = add.apply("model.embed_tokens.weight", new int[] {c.vocabSize(), d});
    List<Layer> ls = new ArrayList<>();
    for (int i = 0; i < c.layers(); i++) {
      String p = "model.layers." + i + ".";
      ls.add(
          new Layer(
              add.apply(p + "input_layernorm.weight", new int[] {1, d}),
              add.apply(p + "self_attn.q_proj.weight", new int[] {d, d}),
              add.apply(p + "self_attn.k_proj.weight", new int[] {c.kvDim(), d}),
              add.apply(p + "self_attn.v_proj.weight", new int[] {c.kvDim(), d}),
              add.apply(p + "self_attn.o_proj.weight", new int[] {d, d}),
              add.apply(p + "post_attention_layernorm.weight", new int[] {1, d}),
              add.apply(p + "mlp.gate_proj.weight", new int[] {c.ffnDim(), d}),
              add.apply(p + "mlp.up_proj.weight", new int[] {c.ffnDim(), d}),
              add.apply(p + "mlp.down_proj.weight", new int[] {d, c.ffnDim()})));
    }
    finalNorm = add.apply("model.norm.weight", new int[] {1, d});
    lmHead = add.apply("lm_head.weight", new int[] {c.vocabSize(), d});
    this.tensors = Collections.unmodifiableList(list);
    this.layers = List.copyOf(ls);
    this.size = next[0];
    Map<String, Tensor> m = new LinkedHashMap<>();
    for (Tensor t : list) {
      m.put(t.name(), t);
    }
    this.byName = Collections.unmodifiableMap(m);
    List<Range> b = new ArrayList<>();
    b.add(new Range(finalNorm, size));
    for (int l = c.layers() - 1; l >= 0; l--) {
      b.add(
          new Range(
              ls.get(l).attentionNorm(),
              l + 1 < c.layers() ? ls.get(l + 1).attentionNorm() : finalNorm));
    }
    b.add(new Range(0, ls.getFirst().attentionNorm()));
    this.buckets = List.copyOf(b);
  }

  /**
   * The gradient buckets, in the order the backward pass finishes them: the final norm with the LM
   * head, each layer from the last to the first, the embeddings. Contiguous, together the whole
   * buffer. The backward pass announces them ({@link
   * LlamaModel#backward(LlamaModel.GradientsReady)}) and data-parallel training reduces and shards
   * them; both read them from here.
   */
  public List<Range> buckets() {
    return buckets;
  }

  public LlamaConfig config() {
    return config;
  }

  /** Total floats: the length of each flat buffer. */
  public long size() {
    return size;
  }

  public List<Tensor> tensors() {
    return tensors;
  }

  /** The tensor with Hugging Face name {@code name}, or null. */
  public Tensor tensor(String name) {
    return byName.get(name);
  }

  public Layer layer(int i) {
    return layers.get(i);
  }

  public long embeddings() {
    return embeddings;
  }

  public long finalNorm() {
    return finalNorm;
  }

  public long lmHead() {
    return lmHead;
  }
}
