package dev.cria.engine.infer;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.cria.engine.kernels.Parallel;
import dev.cria.engine.kernels.RopeTable;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Runs a Llama model one token at a time, keeping every layer's keys and values in a cache so each
 * new token costs one pass over the weights (matrix-vector products) plus attention over the cached
 * positions. The math is {@link dev.cria.engine.model.LlamaModel}'s forward pass for one row:
 * RMSNorm, grouped-query attention with half-split RoPE, SwiGLU MLP, untied LM head.
 *
 * <p>The decoder reads {@code parameters} in place (it does not copy them): they must stay open and
 * unchanged while it is used. It owns only its cache and buffers, released by {@link #close()}.
 * The matrix-vector products split their output rows over {@code parallel}'s threads; the results
 * do not depend on the thread count, and {@link #reset()} followed by the same tokens gives the same
 * logits bit for bit. Not thread-safe.
 */
public final class LlamaDecoder implements AutoCloseable {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

  private final LlamaConfig config;
  private final ParameterLayout layout;
  private final MemorySegment weights;
  private final Parallel parallel;
  private final int maxContext;
  private final RopeTable rope;
  private final float attentionScale;
  private final Arena arena;

  private final MemorySegment keyCache; // [layers][maxContext][kvDim], keys after RoPE
  private final MemorySegment valueCache; // [layers][maxContext][kvDim]
  private final float[] x; // [dim] the residual stream
  private final float[] xn; // [dim] x after an RMSNorm
  private final float[] q; // [dim] = [heads][headDim] this position's queries
  private final float[] k; // [kvDim] = [kvHeads][headDim] this position's keys
  private final float[] v; // [kvDim] this position's values
  private final float[] scores; // [heads][maxContext] attention scores, then weights
  private final float[] attention; // [dim] = [heads][headDim] attention output
  private final float[] hidden; // [ffnDim] silu(gate) * up
  private final float[] logits; // [vocab]

  private int position;
  private boolean closed;

  private LlamaDecoder(LlamaConfig config, Floats parameters, Parallel parallel, int maxContext) {
    this.config = config;
    this.layout = new ParameterLayout(config);
    this.weights = parameters.segment();
    this.parallel = parallel;
    this.maxContext = maxContext;
    this.rope = new RopeTable(maxContext, config.headDim(), config.ropeTheta());
    this.attentionScale = (float) (1.0 / Math.sqrt(config.headDim()));
    // Shared, not confined: the pool's worker threads read the cache.
    this.arena = Arena.ofShared();
    long cacheFloats = (long) config.layers() * maxContext * config.kvDim();
    this.keyCache = Floats.allocate(arena, cacheFloats).segment();
    this.valueCache = Floats.allocate(arena, cacheFloats).segment();
    this.x = new float[config.dim()];
    this.xn = new float[config.dim()];
    this.q = new float[config.dim()];
    this.k = new float[config.kvDim()];
    this.v = new float[config.kvDim()];
    this.scores = new float[Math.multiplyExact(config.heads(), maxContext)];
    this.attention = new float[config.dim()];
    this.hidden = new float[config.ffnDim()];
    this.logits = new float[config.vocabSize()];
  }

  /**
   * A decoder for the model {@code config} whose parameters are {@code parameters} (laid out by
   * {@link ParameterLayout}), holding at most {@code maxContext} tokens.
   *
   * @param maxContext the cache size: 1 to {@code config.maxSeqLen()}
   */
  public static LlamaDecoder create(LlamaConfig config, Floats parameters, Parallel parallel, int maxContext) {
    if (maxContext < 1 || maxContext > config.maxSeqLen()) {
      throw new IllegalArgumentException("max context " + maxContext + " must be between 1 and the model's "
          + "max sequence length " + config.maxSeqLen());
    }
    long expected = new ParameterLayout(config).size();
    if (parameters.length() != expected) {
      throw new IllegalArgumentException("the model needs " + expected + " parameters but the buffer holds "
          + parameters.length());
    }
    if (parallel.isClosed()) {
      throw new IllegalArgumentException("the Parallel pool is closed");
    }
    return new LlamaDecoder(config, parameters, parallel, maxContext);
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
   * @throws IllegalArgumentException when the token is outside the vocabulary or the context is full
   */
  public float[] next(int token) {
    requireOpen();
    int d = config.dim();
    if (token < 0 || token >= config.vocabSize()) {
      throw new IllegalArgumentException("token id " + token + " is outside the vocabulary of "
          + config.vocabSize());
    }
    if (position == maxContext) {
      throw new IllegalArgumentException("the context is full: all " + maxContext
          + " positions hold tokens; reset() to start over");
    }
    MemorySegment.copy(weights, JAVA_FLOAT, (layout.embeddings() + (long) token * d) * Float.BYTES, x, 0, d);
    for (int l = 0; l < config.layers(); l++) {
      layer(l);
    }
    rmsNorm(xn, x, layout.finalNorm());
    long head = layout.lmHead();
    parallel.forRange(0, config.vocabSize(), (from, to, worker) -> {
      for (int r = from; r < to; r++) {
        logits[r] = dot(weights, head + (long) r * d, xn, 0, d);
      }
    });
    position++;
    return logits.clone();
  }

  private void layer(int l) {
    ParameterLayout.Layer w = layout.layer(l);
    int d = config.dim();
    int kvDim = config.kvDim();
    int f = config.ffnDim();

    rmsNorm(xn, x, w.attentionNorm());
    // q, k and v in one parallel section: one hand-off to the workers instead of three
    parallel.forRange(0, d + 2 * kvDim, (from, to, worker) -> {
      for (int r = from; r < to; r++) {
        if (r < d) {
          q[r] = dot(weights, w.wq() + (long) r * d, xn, 0, d);
        } else if (r < d + kvDim) {
          k[r - d] = dot(weights, w.wk() + (long) (r - d) * d, xn, 0, d);
        } else {
          v[r - d - kvDim] = dot(weights, w.wv() + (long) (r - d - kvDim) * d, xn, 0, d);
        }
      }
    });
    rotate(q, config.heads());
    rotate(k, config.kvHeads());
    long cacheRow = ((long) l * maxContext + position) * kvDim;
    MemorySegment.copy(k, 0, keyCache, JAVA_FLOAT, cacheRow * Float.BYTES, kvDim);
    MemorySegment.copy(v, 0, valueCache, JAVA_FLOAT, cacheRow * Float.BYTES, kvDim);
    attend(l);
    parallel.forRange(0, d, (from, to, worker) -> {
      for (int r = from; r < to; r++) {
        x[r] += dot(weights, w.wo() + (long) r * d, attention, 0, d);
      }
    });

    rmsNorm(xn, x, w.mlpNorm());
    parallel.forRange(0, f, (from, to, worker) -> {
      for (int r = from; r < to; r++) {
        float gate = dot(weights, w.gate() + (long) r * d, xn, 0, d);
        float up = dot(weights, w.up() + (long) r * d, xn, 0, d);
        hidden[r] = silu(gate) * up;
      }
    });
    parallel.forRange(0, d, (from, to, worker) -> {
      for (int r = from; r < to; r++) {
        x[r] += dot(weights, w.down() + (long) r * f, hidden, 0, f);
      }
    });
  }

  /**
   * Causal attention of this position's queries over cached positions {@code [0, position]}, one
   * query head per task; query head h reads key/value head {@code h / (heads / kvHeads)}.
   */
  private void attend(int l) {
    int hd = config.headDim();
    int kvDim = config.kvDim();
    int group = config.heads() / config.kvHeads();
    int count = position + 1;
    long layerBase = (long) l * maxContext * kvDim;
    parallel.forRange(0, config.heads(), (from, to, worker) -> {
      for (int h = from; h < to; h++) {
        int qAt = h * hd;
        int sAt = h * maxContext;
        long headBase = layerBase + (long) (h / group) * hd;
        float max = Float.NEGATIVE_INFINITY;
        for (int t = 0; t < count; t++) {
          float s = dot(keyCache, headBase + (long) t * kvDim, q, qAt, hd) * attentionScale;
          scores[sAt + t] = s;
          max = Math.max(max, s);
        }
        // Subtracting the max keeps exp from overflowing; the largest weight is exactly 1.
        float sum = 0;
        for (int t = 0; t < count; t++) {
          float e = (float) StrictMath.exp(scores[sAt + t] - max);
          scores[sAt + t] = e;
          sum += e;
        }
        Arrays.fill(attention, qAt, qAt + hd, 0f);
        for (int t = 0; t < count; t++) {
          accumulate(attention, qAt, valueCache, headBase + (long) t * kvDim, hd, scores[sAt + t]);
        }
        float inverse = 1f / sum;
        for (int c = qAt; c < qAt + hd; c++) {
          attention[c] *= inverse;
        }
      }
    });
  }

  /** RoPE at the current position, pairing dims j and j + hd/2 of each head (HF rotate_half). */
  private void rotate(float[] vectors, int heads) {
    int half = rope.half();
    int hd = 2 * half;
    for (int h = 0; h < heads; h++) {
      int base = h * hd;
      for (int j = 0; j < half; j++) {
        float c = rope.cos(position, j);
        float s = rope.sin(position, j);
        float a = vectors[base + j];
        float b = vectors[base + j + half];
        vectors[base + j] = a * c - b * s;
        vectors[base + j + half] = b * c + a * s;
      }
    }
  }

  /** {@code out = in / rms(in) * weight}, as the training kernels compute it. */
  private void rmsNorm(float[] out, float[] in, long weightOffset) {
    int d = in.length;
    double sumOfSquares = 0;
    for (float value : in) {
      sumOfSquares += value * value;
    }
    float r = (float) (1.0 / Math.sqrt(sumOfSquares / d + config.normEps()));
    for (int c = 0; c < d; c++) {
      out[c] = in[c] * r * weights.getAtIndex(JAVA_FLOAT, weightOffset + c);
    }
  }

  private static float silu(float x) {
    return (float) (x / (1.0 + StrictMath.exp(-x)));
  }

  /**
   * {@code sum_i m[offset + i] * x[xOffset + i]} over {@code n} floats. Four accumulators hide the
   * FMA latency; the lanes are added in a fixed order (not {@code reduceLanes}, whose order may
   * change once the JIT compiles it) so the same inputs always give the same bits.
   */
  private static float dot(MemorySegment m, long offset, float[] x, int xOffset, int n) {
    long bytes = offset * Float.BYTES;
    FloatVector acc0 = FloatVector.zero(S);
    FloatVector acc1 = acc0;
    FloatVector acc2 = acc0;
    FloatVector acc3 = acc0;
    int i = 0;
    for (; i <= n - 4 * L; i += 4 * L) {
      acc0 = FloatVector.fromMemorySegment(S, m, bytes + (long) i * Float.BYTES, NATIVE)
          .fma(FloatVector.fromArray(S, x, xOffset + i), acc0);
      acc1 = FloatVector.fromMemorySegment(S, m, bytes + (long) (i + L) * Float.BYTES, NATIVE)
          .fma(FloatVector.fromArray(S, x, xOffset + i + L), acc1);
      acc2 = FloatVector.fromMemorySegment(S, m, bytes + (long) (i + 2 * L) * Float.BYTES, NATIVE)
          .fma(FloatVector.fromArray(S, x, xOffset + i + 2 * L), acc2);
      acc3 = FloatVector.fromMemorySegment(S, m, bytes + (long) (i + 3 * L) * Float.BYTES, NATIVE)
          .fma(FloatVector.fromArray(S, x, xOffset + i + 3 * L), acc3);
    }
    for (; i <= n - L; i += L) {
      acc0 = FloatVector.fromMemorySegment(S, m, bytes + (long) i * Float.BYTES, NATIVE)
          .fma(FloatVector.fromArray(S, x, xOffset + i), acc0);
    }
    FloatVector acc = acc0.add(acc1).add(acc2.add(acc3));
    float sum = 0;
    for (int lane = 0; lane < L; lane++) {
      sum += acc.lane(lane);
    }
    for (; i < n; i++) {
      sum += m.getAtIndex(JAVA_FLOAT, offset + i) * x[xOffset + i];
    }
    return sum;
  }

  /** {@code acc[at + i] += p * m[offset + i]} over {@code n} floats. */
  private static void accumulate(float[] acc, int at, MemorySegment m, long offset, int n, float p) {
    FloatVector pv = FloatVector.broadcast(S, p);
    int i = 0;
    for (; i <= n - L; i += L) {
      FloatVector.fromMemorySegment(S, m, (offset + i) * Float.BYTES, NATIVE)
          .fma(pv, FloatVector.fromArray(S, acc, at + i))
          .intoArray(acc, at + i);
    }
    for (; i < n; i++) {
      acc[at + i] += p * m.getAtIndex(JAVA_FLOAT, offset + i);
    }
  }

  private void requireOpen() {
    if (closed) {
      throw new IllegalStateException("the decoder is closed");
    }
  }

  /** Releases the cache; the parameters and the pool belong to the caller and stay open. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      arena.close();
    }
  }

  @Override
  public String toString() {
    return "LlamaDecoder[dim=" + config.dim() + ", layers=" + config.layers() + ", position=" + position + "/"
        + maxContext + "]";
  }
}
