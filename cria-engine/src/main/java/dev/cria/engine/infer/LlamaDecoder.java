package dev.cria.engine.infer;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.backend.RopeTable;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;

/**
 * Runs a Llama model one token at a time, keeping every layer's keys and values in a cache so each
 * new token costs one pass over the weights (matrix-vector products) plus attention over the cached
 * positions. The math is {@link dev.cria.engine.model.LlamaModel}'s forward pass for one row, made
 * of the backend's kernels: the training kernels for one token (embedding, RMSNorm, RoPE at the
 * cache position, SwiGLU) and the decoding kernels ({@link Kernels#matVec}, {@link
 * Kernels#attentionDecode}).
 *
 * <p>The decoder reads {@code parameters} in place (it does not copy them): they must stay open and
 * unchanged while it is used. It owns only its cache and buffers, released by {@link #close()}. The
 * results do not depend on the thread count, and {@link #reset()} followed by the same tokens gives
 * the same logits bit for bit. Not thread-safe.
 */
public final class LlamaDecoder implements AutoCloseable {
  private final LlamaConfig config;
  private final ParameterLayout layout;
  private final Floats parameters;
  private final Kernels kernels;
  private final int maxContext;
  private final RopeTable rope;
  private final Buffers buffers;

  private final View keyCache; // [layers][maxContext][kvDim], keys after RoPE
  private final View valueCache; // [layers][maxContext][kvDim]
  private final View work; // the row buffers below, one allocation
  private final long x; // [dim] the residual stream
  private final long xn; // [dim] x after an RMSNorm
  private final long qkv; // [dim + 2 kvDim] this position's queries, keys and values
  private final long attention; // [dim] attention output
  private final long gateUp; // [2 ffnDim] the gate and up projections
  private final long hidden; // [ffnDim] silu(gate) * up
  private final long logits; // [vocab]
  private final long rstd; // [1] RMSNorm's saved inverse root, unused here
  private final View token; // i32: the token being appended

  private int position;
  private boolean closed;

  private LlamaDecoder(LlamaConfig config, Floats parameters, Backend backend, int maxContext) {
    this.config = config;
    this.layout = new ParameterLayout(config);
    this.parameters = parameters;
    this.kernels = backend.kernels();
    this.maxContext = maxContext;
    this.rope = new RopeTable(maxContext, config.headDim(), config.ropeTheta());
    this.buffers = backend.buffers();
    long cacheFloats = (long) config.layers() * maxContext * config.kvDim();
    this.keyCache = buffers.allocate(DType.F32, cacheFloats);
    this.valueCache = buffers.allocate(DType.F32, cacheFloats);
    int d = config.dim();
    int f = config.ffnDim();
    this.x = 0;
    this.xn = x + d;
    this.qkv = xn + d;
    this.attention = qkv + d + 2L * config.kvDim();
    this.gateUp = attention + d;
    this.hidden = gateUp + 2L * f;
    this.logits = hidden + f;
    this.rstd = logits + config.vocabSize();
    this.work = buffers.allocate(DType.F32, rstd + 1);
    this.token = buffers.allocate(DType.I32, 1);
  }

  /**
   * A decoder for the model {@code config} whose parameters are {@code parameters} (laid out by
   * {@link ParameterLayout}), holding at most {@code maxContext} tokens, on {@code backend}.
   *
   * @param maxContext the cache size: 1 to {@code config.maxSeqLen()}
   */
  public static LlamaDecoder create(
      LlamaConfig config, Floats parameters, Backend backend, int maxContext) {
    if (maxContext < 1 || maxContext > config.maxSeqLen()) {
      throw new IllegalArgumentException(
          "max context "
              + maxContext
              + " must be between 1 and the model's "
              + "max sequence length "
              + config.maxSeqLen());
    }
    long expected = new ParameterLayout(config).size();
    if (parameters.length() != expected) {
      throw new IllegalArgumentException(
          "the model needs "
              + expected
              + " parameters but the buffer holds "
              + parameters.length());
    }
    return new LlamaDecoder(config, parameters, backend, maxContext);
  }

  public LlamaConfig config() {
    return config;
  }

  /** The most tokens the cache holds. */
  public int maxContext() {
    return maxContext;
  }

  /** How many tokens the cache holds: the position the next token goes to. */
  public int position() {
    return position;
  }

  /** Empties the cache, so the next token goes to position 0. */
  public void reset() {
    requireOpen();
    position = 0; // stale cache rows are never read: attention stops at the current position
  }

  /**
   * Appends {@code token} at the current position and returns the logits for the token after it.
   *
   * @return a new array of {@code vocabSize} logits
   * @throws IllegalArgumentException when the token is outside the vocabulary or the context is
   *     full
   */
  public float[] next(int token) {
    requireOpen();
    int d = config.dim();
    if (token < 0 || token >= config.vocabSize()) {
      throw new IllegalArgumentException(
          "token id " + token + " is outside the vocabulary of " + config.vocabSize());
    }
    if (position == maxContext) {
      throw new IllegalArgumentException(
          "the context is full: all "
              + maxContext
              + " positions hold tokens; reset() to start over");
    }
    buffers.upload(new int[] {token}, this.token);
    kernels.embeddingForward(at(x), weight(layout.embeddings()), this.token, 1, d);
    for (int l = 0; l < config.layers(); l++) {
      layer(l);
    }
    kernels.rmsNormForward(
        at(xn), at(rstd), at(x), weight(layout.finalNorm()), 1, d, config.normEps());
    kernels.matVec(at(logits), weight(layout.lmHead()), at(xn), config.vocabSize(), d, false);
    position++;
    return buffers.download(at(logits), config.vocabSize());
  }

  private void layer(int l) {
    ParameterLayout.Layer w = layout.layer(l);
    int d = config.dim();
    int kvDim = config.kvDim();
    int f = config.ffnDim();
    float eps = config.normEps();

    kernels.rmsNormForward(at(xn), at(rstd), at(x), weight(w.attentionNorm()), 1, d, eps);
    // q, k and v in one call: their weights lie one after the other in the layout
    kernels.matVec(at(qkv), weight(w.wq()), at(xn), d + 2 * kvDim, d, false);
    long q = qkv;
    long k = qkv + d;
    long v = k + kvDim;
    kernels.rope(at(q), rope, 1, 1, config.heads(), position, false);
    kernels.rope(at(k), rope, 1, 1, config.kvHeads(), position, false);
    long cacheRow = ((long) l * maxContext + position) * kvDim;
    buffers.copy(at(k), keyCache.plus(cacheRow), kvDim);
    buffers.copy(at(v), valueCache.plus(cacheRow), kvDim);
    long layerBase = (long) l * maxContext * kvDim;
    kernels.attentionDecode(
        at(attention),
        at(q),
        keyCache.plus(layerBase),
        valueCache.plus(layerBase),
        position + 1,
        config.heads(),
        config.kvHeads(),
        config.headDim());
    kernels.matVec(at(x), weight(w.wo()), at(attention), d, d, true);

    kernels.rmsNormForward(at(xn), at(rstd), at(x), weight(w.mlpNorm()), 1, d, eps);
    // gate and up in one call, likewise
    kernels.matVec(at(gateUp), weight(w.gate()), at(xn), 2 * f, d, false);
    kernels.swigluForward(at(hidden), at(gateUp), at(gateUp + f), f);
    kernels.matVec(at(x), weight(w.down()), at(hidden), d, f, true);
  }

  /** A view of the row buffers at {@code offset}. */
  private View at(long offset) {
    return work.plus(offset);
  }

  /** A view of the parameters at {@code offset}. */
  private View weight(long offset) {
    return View.of(parameters, offset);
  }

  private void requireOpen() {
    if (closed) {
      throw new IllegalStateException("the decoder is closed");
    }
  }

  /** Releases the cache; the parameters and the backend belong to the caller and stay open. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      buffers.close();
    }
  }

  @Override
  public String toString() {
    return "LlamaDecoder[dim="
        + config.dim()
        + ", layers="
        + config.layers()
        + ", position="
        + position
        + "/"
        + maxContext
        + "]";
  }
}
