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
 *
 * <p>A layout for a {@link ModelSlice} of a tensor-parallel group holds that rank's piece of each
 * tensor, in the same order, as Megatron-Core cuts a Llama: the rows (outputs) of q, k, v, gate and
 * up, of the embeddings and of the LM head (column-parallel and vocabulary-parallel, {@link
 * Split#ROWS}), the columns (inputs) of o and down (row-parallel, {@link Split#COLUMNS}), and every
 * norm whole.
 */
public final class ParameterLayout {
  /** How a tensor is cut among the ranks of a tensor-parallel group. */
  public enum Split {
    /** Every rank holds all of it (the norms). */
    NONE,
    /** Each rank holds an equal run of its rows: outputs, or vocabulary entries. */
    ROWS,
    /** Each rank holds an equal run of its columns: inputs. */
    COLUMNS
  }

  /**
   * One tensor, or this rank's piece of it.
   *
   * @param name Hugging Face LlamaForCausalLM name
   * @param offset first element in the flat buffer
   * @param rows rows held here (1 for a vector)
   * @param cols columns held here
   * @param weightDecay whether AdamW decays it (not for norm weights)
   * @param split how tensor parallelism cuts it
   */
  public record Tensor(
      String name, long offset, int rows, int cols, boolean weightDecay, Split split) {
    /** A tensor no one cuts. */
    public Tensor(String name, long offset, int rows, int cols, boolean weightDecay) {
      this(name, offset, rows, cols, weightDecay, Split.NONE);
    }

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
  private final ModelSlice slice;
  private final List<Tensor> tensors;
  private final Map<String, Tensor> byName;
  private final List<Layer> layers;
  private final long embeddings;
  private final long finalNorm;
  private final long lmHead;
  private final long size;
  private final List<Range> buckets;

  /** The layout of the whole model. */
  public ParameterLayout(LlamaConfig c) {
    this(c, ModelSlice.WHOLE);
  }

  /**
   * The layout of {@code slice} of the model; refuses a slice that does not divide what it cuts
   * ({@link ModelSlice#requireFits}).
   */
  public ParameterLayout(LlamaConfig c, ModelSlice slice) {
    slice.requireFits(c);
    this.config = c;
    this.slice = slice;
    int parts = slice.parts();
    List<Tensor> list = new ArrayList<>();
    long[] next = {0};
    interface Adder {
      long add(String name, int rows, int cols, Split split);
    }
    Adder add =
        (name, rows, cols, split) -> {
          boolean decay = !name.endsWith("norm.weight");
          Tensor t =
              new Tensor(
                  name,
                  next[0],
                  split == Split.ROWS ? rows / parts : rows,
                  split == Split.COLUMNS ? cols / parts : cols,
                  decay,
                  parts == 1 ? Split.NONE : split);
          list.add(t);
          next[0] = t.end();
          return t.offset();
        };
    int d = c.dim();
    embeddings = add.add("model.embed_tokens.weight", c.vocabSize(), d, Split.ROWS);
    List<Layer> ls = new ArrayList<>();
    for (int i = 0; i < c.layers(); i++) {
      String p = "model.layers." + i + ".";
      ls.add(
          new Layer(
              add.add(p + "input_layernorm.weight", 1, d, Split.NONE),
              add.add(p + "self_attn.q_proj.weight", d, d, Split.ROWS),
              add.add(p + "self_attn.k_proj.weight", c.kvDim(), d, Split.ROWS),
              add.add(p + "self_attn.v_proj.weight", c.kvDim(), d, Split.ROWS),
              add.add(p + "self_attn.o_proj.weight", d, d, Split.COLUMNS),
              add.add(p + "post_attention_layernorm.weight", 1, d, Split.NONE),
              add.add(p + "mlp.gate_proj.weight", c.ffnDim(), d, Split.ROWS),
              add.add(p + "mlp.up_proj.weight", c.ffnDim(), d, Split.ROWS),
              add.add(p + "mlp.down_proj.weight", d, c.ffnDim(), Split.COLUMNS)));
    }
    finalNorm = add.add("model.norm.weight", 1, d, Split.NONE);
    lmHead = add.add("lm_head.weight", c.vocabSize(), d, Split.ROWS);
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

  /** Which slice of the model this layout holds ({@link ModelSlice#WHOLE} for all of it). */
  public ModelSlice slice() {
    return slice;
  }

  /** The rows of the whole tensor that {@code t} is a piece of. */
  public int wholeRows(Tensor t) {
    return t.split() == Split.ROWS ? t.rows() * slice.parts() : t.rows();
  }

  /** The columns of the whole tensor that {@code t} is a piece of. */
  public int wholeCols(Tensor t) {
    return t.split() == Split.COLUMNS ? t.cols() * slice.parts() : t.cols();
  }

  /**
   * Floats of the largest bucket of weights that are multiplied: every bucket but the embeddings'
   * (the last, looked up and never multiplied). Under ZeRO-3 and bf16-sr the bf16 copy of the
   * weights holds one such bucket at a time.
   */
  public long largestMultipliedBucket() {
    return buckets.subList(0, buckets.size() - 1).stream().mapToLong(Range::size).max().orElse(0);
  }

  /** Floats of the largest tensor (the embeddings, in a Llama; at least 1). */
  public long largestTensor() {
    return tensors().stream().mapToLong(Tensor::size).max().orElse(1);
  }

  /** The first row of the whole tensor that this rank's piece {@code t} holds. */
  public int firstRow(Tensor t) {
    return t.split() == Split.ROWS ? t.rows() * slice.index() : 0;
  }

  /** The first column of the whole tensor that this rank's piece {@code t} holds. */
  public int firstCol(Tensor t) {
    return t.split() == Split.COLUMNS ? t.cols() * slice.index() : 0;
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
