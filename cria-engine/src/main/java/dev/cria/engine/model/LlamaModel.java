package dev.cria.engine.model;

import static dev.cria.engine.tensor.DType.BF16;
import static dev.cria.engine.tensor.DType.F32;
import static dev.cria.engine.tensor.DType.I32;

import dev.cria.engine.backend.AttentionShape;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.backend.RopeTable;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.VocabParallelCrossEntropy;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import java.util.Arrays;
import java.util.List;

/**
 * A Llama model for training: flat parameter and gradient buffers ({@link ParameterLayout}), an
 * activation arena sized once for the micro-batch, and explicit forward/backward passes made of
 * {@link Kernels} calls, as llm.c does it. No autograd: each layer's backward is written out.
 *
 * <p>Use: {@link #forward(int[], int[], float)} with targets computes the loss and, fused with it,
 * the gradient of the logits; {@link #backward()} then accumulates parameter gradients. Not
 * thread-safe; the kernels use the cores.
 *
 * <p>Tensor parallelism, as Megatron-Core runs a Llama: a model built on a tensor-parallel group
 * holds its rank's {@link ModelSlice} of every layer ({@link ParameterLayout}). Each rank computes
 * its heads' attention and its share of the MLP's hidden units from the whole residual stream; the
 * row-parallel products (o, down) leave partial sums that one all-reduce per block adds up, and
 * going back the input gradients of the column-parallel products (q, k, v, gate, up) are summed the
 * same way. The embeddings and the LM head hold a slice of the vocabulary: a token outside a rank's
 * slice looks up zeros (the all-reduce fills it in), and the loss is the vocabulary-parallel
 * cross-entropy ({@link VocabParallelCrossEntropy}), so the full logits are never gathered. The
 * norms are whole on every rank, their inputs and gradients the same everywhere (the all-reduces
 * give the same bits to every rank), so their gradients need no reduction. Four all-reduces of the
 * residual's size per layer and micro-batch, two forward and two back (six with recompute, which
 * repeats the forward's), two more for the embeddings and the head, and the loss's all-gather of
 * three floats a row and rank: the collectives that the group's transport must make fast.
 *
 * <p>Sequence parallelism ({@link TensorGroup}): each rank holds a block of the tokens' rows of the
 * residual stream, computes the norms on them, and all-gathers a norm's output before the
 * column-parallel products read all rows; the row-parallel products' partial sums are
 * reduce-scattered instead of all-reduced, so each rank adds only its rows. Going back the same
 * collectives run the other way round (the residual's gradient gathered for the row-parallel
 * products and the embeddings, the column-parallel input gradients reduce-scattered), and each norm
 * weight's gradient, from a rank's rows only, is summed over the group. The same traffic as the
 * all-reduces (an all-reduce is a reduce-scatter and an all-gather), and the residual stream's
 * activations a tp-th as large.
 *
 * <p>This file is long because each layer's forward and backward passes are written out side by
 * side, with the tensor-parallel reductions between their kernels; split apart, a step would sit
 * away from its gradient.
 */
public final class LlamaModel implements AutoCloseable {
  private final LlamaConfig config;
  private final ParameterLayout layout;
  private final Kernels kernels;
  private final boolean recompute;
  private final Precision precision;
  private final Buffers buffers;
  private final Floats parameters;
  private final Floats gradients;
  private final boolean bf16; // the products are bf16 (mixed precision)
  private final PassWeights weights; // what the passes read: in place or sharded, and a bf16 copy
  private final ActivationLayout act;
  private final View a; // activations (f32; the bf16 inputs of the products share their slots)
  // bf16 products over the whole vocabulary: the loss's gradient, rounded as the LM head reads it
  // (null otherwise: the gradient replaces the logits)
  private final View logitsGradient;
  private final RopeTable rope;
  private final AttentionShape attention;
  private final Collective group; // tensor-parallel: the ranks sharing this model
  private final ModelSlice slice;
  private final VocabParallelCrossEntropy vocabParallelLoss; // null for the whole model
  // this rank's widths: its heads' q (and attention output), k and v; its MLP hidden units;
  // its vocabulary entries
  private final int qDim;
  private final int kvDim;
  private final int ffnDim;
  private final int vocab;
  // i32, set once per micro-batch: the tokens as this rank's embedding rows (-1 outside its
  // slice), then the targets
  private final View ids;
  private final TensorGroup tensor; // the group's collectives on the arena
  private boolean logitsHoldGradient;

  /**
   * A model with zeroed parameters for micro-batches of {@code batch} x {@code seq} tokens.
   *
   * @param recompute keep only each layer's input and recompute the rest in the backward pass
   */
  public LlamaModel(LlamaConfig config, Backend backend, int batch, int seq, boolean recompute) {
    this(config, backend, batch, seq, recompute, Precision.FP32);
  }

  /**
   * A model with zeroed parameters that computes in {@code precision}: in {@link
   * Precision#products()} bf16 it also holds a bf16 copy of the parameters, rounded from the fp32
   * ones as each forward pass reaches them.
   */
  public LlamaModel(
      LlamaConfig config,
      Backend backend,
      int batch,
      int seq,
      boolean recompute,
      Precision precision) {
    this(config, backend, batch, seq, recompute, precision, Collective.single());
  }

  /**
   * Rank {@code tensorGroup.rank()}'s slice of a model shared by the ranks of {@code tensorGroup}
   * (tensor parallelism; a group of one holds the whole model), with zeroed parameters. Every rank
   * of the group calls {@link #forward} and {@link #backward} on the same tokens, together: the
   * passes call the group's collectives. Refuses a group whose size does not divide the heads, the
   * key/value heads, the MLP's hidden units or the vocabulary.
   */
  public LlamaModel(
      LlamaConfig config,
      Backend backend,
      int batch,
      int seq,
      boolean recompute,
      Precision precision,
      Collective tensorGroup) {
    this(config, backend, batch, seq, recompute, precision, tensorGroup, false);
  }

  /**
   * As above, with the residual stream split along the micro-batch's tokens among the group's ranks
   * when {@code sequenceParallel} (Megatron's sequence parallelism: each rank holds its block of
   * rows of the residual stream and the norms, which saves their activation memory; the group's
   * size must divide the tokens). The results are those of the model without it.
   */
  public LlamaModel(
      LlamaConfig config,
      Backend backend,
      int batch,
      int seq,
      boolean recompute,
      Precision precision,
      Collective tensorGroup,
      boolean sequenceParallel) {
    if (seq > config.maxSeqLen()) {
      throw new IllegalArgumentException(
          "sequence length " + seq + " exceeds the model's " + config.maxSeqLen());
    }
    this.config = config;
    this.group = java.util.Objects.requireNonNull(tensorGroup, "tensorGroup");
    this.slice = new ModelSlice(tensorGroup.worldSize(), tensorGroup.rank());
    this.layout = new ParameterLayout(config, slice); // refuses a slice that does not fit
    this.qDim = config.dim() / slice.parts();
    this.kvDim = config.kvDim() / slice.parts();
    this.ffnDim = config.ffnDim() / slice.parts();
    this.vocab = config.vocabSize() / slice.parts();
    this.kernels = backend.kernels();
    this.recompute = recompute;
    this.precision = java.util.Objects.requireNonNull(precision, "precision");
    this.bf16 = precision.products() == DType.BF16;
    if (sequenceParallel && !slice.whole() && (batch * seq) % slice.parts() != 0) {
      throw new IllegalArgumentException(
          "sequence parallelism: the tensor-parallel size "
              + slice.parts()
              + " does not divide the micro-batch's "
              + batch * seq
              + " tokens (micro-batch "
              + batch
              + " x sequence length "
              + seq
              + ")");
    }
    this.act = new ActivationLayout(config, batch, seq, recompute, slice, sequenceParallel);
    this.rope = new RopeTable(seq, config.headDim(), config.ropeTheta());
    this.attention =
        new AttentionShape(
            batch,
            seq,
            config.heads() / slice.parts(),
            config.kvHeads() / slice.parts(),
            config.headDim());
    this.buffers = backend.buffers();
    try { // what a failed constructor allocated goes back
      this.parameters = buffers.allocate(layout.size());
      this.gradients = buffers.allocate(layout.size());
      this.weights =
          new PassWeights(
              layout,
              parameters,
              precision,
              layout.embeddings() + (long) vocab * config.dim(),
              kernels,
              buffers);
      this.a = View.of(buffers.allocate(act.size), 0);
      this.ids = buffers.allocate(I32, 2L * act.tokens);
      this.logitsGradient =
          bf16 && slice.whole() ? buffers.allocate(BF16, (long) act.tokens * vocab) : null;
      this.tensor = new TensorGroup(group, buffers, a, act.tokens, config.dim(), sequenceParallel);
      this.vocabParallelLoss =
          slice.whole() ? null : new VocabParallelCrossEntropy(group, backend, act.tokens);
    } catch (RuntimeException | Error e) {
      buffers.close();
      throw e;
    }
  }

  public LlamaConfig config() {
    return config;
  }

  /** This rank's parameters' layout: its slice of the model's. */
  public ParameterLayout layout() {
    return layout;
  }

  /**
   * Which slice of the model this rank holds ({@link ModelSlice#WHOLE} without tensor parallelism).
   */
  public ModelSlice slice() {
    return slice;
  }

  public Floats parameters() {
    return parameters;
  }

  public Floats gradients() {
    return gradients;
  }

  /**
   * The memory its parameters, gradients and activations live in: how a checkpoint or a test reads
   * and writes them.
   */
  public Buffers buffers() {
    return buffers;
  }

  public Precision precision() {
    return precision;
  }

  public int batch() {
    return act.batch;
  }

  public int seq() {
    return act.seq;
  }

  /**
   * Bytes held: parameters, gradients, activations (the micro-batch's i32 token ids and targets,
   * the vocabulary-parallel loss's statistics and the bf16 gradient of the logits among them), and
   * the bf16 copy of the weights.
   */
  public long bytes() {
    return heldBytes(layout.size(), act, slice)
        + logitsGradientBytes(config, act.batch, act.seq, slice, precision)
        + computeCopyBytes();
  }

  /**
   * Bytes of {@code parameters} parameters and their gradients, the activations {@code act} lays
   * out, the micro-batch's i32 token rows and targets, and with the vocabulary split the loss's
   * statistics: what every precision holds.
   */
  private static long heldBytes(long parameters, ActivationLayout act, ModelSlice slice) {
    long statistics =
        slice.whole() ? 0 : VocabParallelCrossEntropy.bytes(slice.parts(), act.tokens);
    return (2 * parameters + act.size) * F32.bytes() + 2L * act.tokens * I32.bytes() + statistics;
  }

  /**
   * Bytes of the bf16 gradient of the logits that the loss writes for the LM head when the products
   * are bf16 and the vocabulary whole; 0 otherwise (the gradient replaces the fp32 logits).
   */
  public static long logitsGradientBytes(
      LlamaConfig config, int batch, int seq, ModelSlice slice, Precision precision) {
    return precision.products() == BF16 && slice.whole()
        ? (long) batch * seq * config.vocabSize() * BF16.bytes()
        : 0;
  }

  /**
   * Bytes of the bf16 copy of the weights (mixed precision: every weight but the embeddings, or
   * under ZeRO-3 and bf16-sr the largest bucket's), else 0.
   */
  public long computeCopyBytes() {
    return weights.computeCopyBytes();
  }

  /**
   * Whether the bf16 copy holds one bucket, rounded whenever a pass takes it (the backward pass's
   * included), rather than every weight rounded once a step: when the parameters are sharded
   * (ZeRO-3), whose buckets come and go, and under bf16-sr, whose fp32 slots already hold bf16
   * values (a second whole copy would hold the same values again; rounding them is exact). The
   * memory plan asks the same.
   */
  public static boolean copiesOneBucket(Precision precision, boolean parametersSharded) {
    return PassWeights.copiesOneBucket(precision, parametersSharded);
  }

  private boolean copiesOneBucket() {
    return weights.copiesOneBucket();
  }

  /**
   * Throws when training this model (parameters, gradients, two AdamW moments and the activations
   * of one micro-batch) needs more than 90% of the machine's physical memory, with a message that
   * says how much it needs and what to shrink.
   */
  public static void requireMemoryFor(LlamaConfig config, int batch, int seq) {
    requireMemoryFor(config, batch, seq, 0, "");
  }

  /**
   * As {@link #requireMemoryFor(LlamaConfig, int, int)}, with {@code extraBytes} more for {@code
   * extraWhat}.
   */
  public static void requireMemoryFor(
      LlamaConfig config, int batch, int seq, long extraBytes, String extraWhat) {
    requireMemoryFor(
        config,
        batch,
        seq,
        extraBytes,
        extraWhat,
        ((com.sun.management.OperatingSystemMXBean)
                java.lang.management.ManagementFactory.getOperatingSystemMXBean())
            .getTotalMemorySize());
  }

  /** As the public form, on a machine of {@code physical} bytes: at most 90% of them may go. */
  static void requireMemoryFor(
      LlamaConfig config, int batch, int seq, long extraBytes, String extraWhat, long physical) {
    long needed =
        bytesNeeded(config, batch, seq, false)
            + 2L * config.parameterCount() * F32.bytes()
            + extraBytes;
    if (needed > physical * 0.9) {
      throw new IllegalArgumentException(
          String.format(
              java.util.Locale.ROOT,
              "this model and micro-batch need %.1f GB (parameters, gradients, Adam moments, activations%s)"
                  + " but the machine has %.1f GB; pick a smaller model, micro-batch or sequence length",
              needed / 1e9,
              extraBytes > 0 ? ", " + extraWhat : "",
              physical / 1e9));
    }
  }

  /**
   * Bytes a model of this shape would hold for micro-batches of {@code batch} x {@code seq}
   * (parameters, gradients, activations), without allocating anything.
   */
  public static long bytesNeeded(LlamaConfig config, int batch, int seq, boolean recompute) {
    return bytesNeeded(config, batch, seq, recompute, ModelSlice.WHOLE);
  }

  /** As above, for a tensor-parallel rank that holds {@code slice} of the model. */
  public static long bytesNeeded(
      LlamaConfig config, int batch, int seq, boolean recompute, ModelSlice slice) {
    return bytesNeeded(config, batch, seq, recompute, slice, false);
  }

  /** As above, with the residual stream split along the tokens ({@code sequenceParallel}). */
  public static long bytesNeeded(
      LlamaConfig config,
      int batch,
      int seq,
      boolean recompute,
      ModelSlice slice,
      boolean sequenceParallel) {
    return heldBytes(
        new ParameterLayout(config, slice).size(),
        new ActivationLayout(config, batch, seq, recompute, slice, sequenceParallel),
        slice);
  }

  /** {@link #initialize(long, double, boolean)} with NeMo's defaults: std 0.02, scaled. */
  public void initialize(long seed) {
    initialize(seed, 0.02, true);
  }

  /**
   * NeMo/Megatron initialization, deterministic for {@code seed}: normal(0, std) for every matrix,
   * normal(0, std/sqrt(2L)) for the attention output and MLP down projections when {@code scaled}
   * ({@code use_scaled_init_method}), 1 for norm weights.
   */
  public void initialize(long seed, double std, boolean scaled) {
    ParameterInit.fill(layout, buffers, View.of(parameters, 0), seed, std, scaled);
  }

  private static void need(ParametersNeeded needed, ParameterLayout.Range bucket) {
    if (needed != null) {
      needed.await(bucket.from(), bucket.to());
    }
  }

  private static void announce(GradientsReady ready, ParameterLayout.Range bucket) {
    if (ready != null) {
      ready.ready(bucket.from(), bucket.to());
    }
  }

  /**
   * The sum of the squares of every parameter this rank holds (the square of the parameter norm
   * without tensor parallelism), in double.
   */
  public double parameterSquares() {
    return kernels.sumOfSquares(View.of(parameters, 0), parameters.length());
  }

  /**
   * The sum of the squares of {@code values} (this rank's parameters or gradients) over the tensors
   * that every rank of the tensor-parallel group holds whole, the norms; 0 without tensor
   * parallelism. A norm over the group counts these once and the rest summed over its ranks.
   */
  public double replicatedSquares(Floats values) {
    return replicatedSquares(values, List.of(new ParameterLayout.Range(0, layout.size())));
  }

  /**
   * As above, of the elements within {@code ranges} only (a data-parallel rank's shards of the
   * slice, which are all it reduces and updates).
   */
  public double replicatedSquares(Floats values, List<ParameterLayout.Range> ranges) {
    double squares = 0;
    if (!slice.whole()) {
      for (ParameterLayout.Tensor t : layout.tensors()) {
        if (t.split() != ParameterLayout.Split.NONE) {
          continue;
        }
        for (ParameterLayout.Range r : ranges) {
          long from = Math.max(r.from(), t.offset());
          long to = Math.min(r.to(), t.offset() + t.size());
          if (from < to) {
            squares += kernels.sumOfSquares(View.of(values, from), to - from);
          }
        }
      }
    }
    return squares;
  }

  public void zeroGradients() {
    buffers.zero(grad(0), gradients.length());
  }

  /**
   * The forward pass over {@code tokens} [batch x seq]. With {@code targets} (same shape, -1 =
   * ignore) it returns the mean cross-entropy over the counted targets and leaves the gradient of
   * the logits, times {@code gradScale}, ready for {@link #backward()}; without, it returns NaN and
   * leaves the logits readable with {@link #logits()}.
   */
  public double forward(int[] tokens, int[] targets, float gradScale) {
    return forward(tokens, targets, gradScale, null);
  }

  /**
   * Told, during {@link #forward(int[], int[], float, ParametersNeeded)}, which parameters the pass
   * is about to read: the embeddings, then each layer's, then the final norm and the LM head, each
   * a {@link ParameterLayout#buckets()} range. It returns once they hold their values (a
   * data-parallel trainer all-gathers them meanwhile, so that the gather overlaps the pass).
   */
  public interface ParametersNeeded {
    void await(long from, long to);
  }

  /**
   * From now on every pass reads its parameters from {@code shards} (ZeRO-3), a bucket at a time,
   * and in mixed precision rounds each bucket's bf16 copy whenever it is acquired, the backward
   * pass's included; the bf16 copy holds one bucket. Call before the first pass.
   */
  public void shardParameters(ParameterShards shards) {
    weights.shardFrom(shards);
  }

  /**
   * {@link #forward(int[], int[], float)}, telling {@code needed} (when not null) before each block
   * of parameters is read.
   */
  public double forward(int[] tokens, int[] targets, float gradScale, ParametersNeeded needed) {
    int n = act.tokens;
    if (tokens.length != n || (targets != null && targets.length != n)) {
      throw new IllegalArgumentException(
          "expected " + n + " tokens (batch " + act.batch + " x seq " + act.seq + ")");
    }
    for (int t : tokens) {
      if (t < 0 || t >= config.vocabSize()) {
        throw new IllegalArgumentException(
            "token id " + t + " is outside the vocabulary of " + config.vocabSize());
      }
    }
    buffers.upload(slice.whole() ? tokens : rowsOfThisSlice(tokens), ids);
    int d = config.dim();
    List<ParameterLayout.Range> buckets = layout.buckets(); // the backward's order: head first
    ParameterLayout.Range embeddings = buckets.getLast(); // looked up in fp32, never multiplied
    take(embeddings, layerBucket(0), needed, false);
    long looked = tensor.sequenceParallel() ? act.full : act.layerInput[0];
    kernels.embeddingForward(at(looked), param(layout.embeddings()), ids, n, d);
    done(embeddings);
    // each token's row from the rank that holds it (this rank's rows, sequence-parallel)
    moveRows(tensor.reduceRows(looked, d), act.layerInput[0]);
    for (int l = 0; l < config.layers(); l++) {
      ParameterLayout.Range layer = layerBucket(l);
      take(layer, l + 1 < config.layers() ? layerBucket(l + 1) : buckets.getFirst(), needed, true);
      layerForward(l);
      done(layer);
    }
    take(buckets.getFirst(), null, needed, true);
    long hFinal = act.layerInput[config.layers()];
    kernels.rmsNormForward(
        input(act.xnFinal),
        at(act.rstdFinal),
        at(hFinal),
        param(layout.finalNorm()),
        act.rows,
        d,
        config.normEps());
    linear(act.logits, allRows(act.xnFinal), layout.lmHead(), n, d, vocab);
    done(buckets.getFirst());
    if (targets == null) {
      logitsHoldGradient = false;
      return Double.NaN;
    }
    int counted = 0;
    for (int t : targets) {
      if (t >= config.vocabSize()) {
        throw new IllegalArgumentException(
            "target id " + t + " is outside the vocabulary of " + config.vocabSize());
      }
      if (t >= 0) {
        counted++;
      }
    }
    if (counted == 0) {
      throw new IllegalArgumentException("every target is -1: nothing to learn from");
    }
    if (slice.whole()) { // the vocabulary-parallel loss reads the targets on the host
      buffers.upload(targets, ids.plus(n));
    }
    double sum =
        slice.whole()
            ? logitsGradient != null
                ? kernels.crossEntropy(
                    logitsGradient,
                    at(act.logits),
                    ids.plus(n),
                    n,
                    config.vocabSize(),
                    gradScale / counted)
                : kernels.crossEntropy(
                    at(act.logits), ids.plus(n), n, config.vocabSize(), gradScale / counted)
            : vocabParallelLoss.lossAndGradient(
                at(act.logits),
                targets,
                vocab,
                slice.first(config.vocabSize()),
                gradScale / counted);
    logitsHoldGradient = true;
    return sum / counted;
  }

  /** The logits of the last forward pass without targets: [batch x seq, vocab]. */
  public float[] logits() {
    if (!slice.whole()) {
      throw new IllegalStateException(
          "the logits are split across the tensor-parallel group; gathering them is not built");
    }
    if (logitsHoldGradient) {
      throw new IllegalStateException(
          "the logits were replaced by their gradient; call forward without targets");
    }
    return buffers.download(
        at(act.logits), Math.toIntExact((long) act.tokens * config.vocabSize()));
  }

  private void layerForward(int l) {
    ActivationLayout.Slot s = act.slots[l];
    ParameterLayout.Layer w = layout.layer(l);
    int n = act.tokens;
    int m = act.rows;
    int d = config.dim();
    int kv = kvDim;
    int f = ffnDim;
    long hIn = act.layerInput[l];
    kernels.rmsNormForward(
        input(s.xn1()), at(s.rstd1()), at(hIn), param(w.attentionNorm()), m, d, config.normEps());
    View xn1 = allRows(s.xn1());
    linear(s.q(), xn1, w.wq(), n, d, qDim);
    linear(s.k(), xn1, w.wk(), n, d, kv);
    linear(s.v(), xn1, w.wv(), n, d, kv);
    kernels.rope(at(s.q()), rope, act.batch, act.seq, attention.heads(), 0, false);
    kernels.rope(at(s.k()), rope, act.batch, act.seq, attention.kvHeads(), 0, false);
    kernels.attentionForward(at(s.att()), at(s.lse()), at(s.q()), at(s.k()), at(s.v()), attention);
    long partial = tensor.sequenceParallel() ? act.full : s.hMid();
    linear(partial, at(s.att()), w.wo(), n, qDim, d);
    moveRows(tensor.reduceRows(partial, d), s.hMid()); // row-parallel: each rank's heads' share
    kernels.add(at(s.hMid()), at(hIn), (long) m * d);
    kernels.rmsNormForward(
        input(s.xn2()), at(s.rstd2()), at(s.hMid()), param(w.mlpNorm()), m, d, config.normEps());
    View xn2 = allRows(s.xn2());
    linear(s.gate(), xn2, w.gate(), n, d, f);
    linear(s.up(), xn2, w.up(), n, d, f);
    View swi = input(s.swi());
    kernels.swigluForward(swi, at(s.gate()), at(s.up()), (long) n * f);
    long hOut = act.layerInput[l + 1];
    partial = tensor.sequenceParallel() ? act.full : hOut;
    linear(partial, swi, w.down(), n, f, d);
    moveRows(tensor.reduceRows(partial, d), hOut); // row-parallel: each rank's units' share
    kernels.add(at(hOut), at(s.hMid()), (long) m * d);
  }

  /** Accumulates the gradients of the last forward pass's loss into {@link #gradients()}. */
  public void backward() {
    backward(null);
  }

  /**
   * Told, during {@link #backward(GradientsReady)}, which gradients this pass will not touch again.
   */
  @FunctionalInterface
  public interface GradientsReady {
    /** Gradients {@code [from, to)} (parameter indices) are final for this backward pass. */
    void ready(long from, long to);
  }

  /**
   * The backward pass, announcing each bucket of gradients ({@link ParameterLayout#buckets()}) as
   * soon as it is final: the LM head and final norm first, then each layer from the last, then the
   * embeddings. A data-parallel trainer starts reducing those while the pass goes on.
   */
  public void backward(GradientsReady ready) {
    if (!logitsHoldGradient) {
      throw new IllegalStateException("backward needs a forward pass with targets first");
    }
    int n = act.tokens;
    int d = config.dim();
    List<ParameterLayout.Range> buckets = layout.buckets();
    take(buckets.getFirst(), layerBucket(config.layers() - 1), null, copiesOneBucket());
    // LM head and final norm: dxn = dlogits · W_head; dW_head += dlogits^T · xn
    View dLogits = logitsGradient != null ? logitsGradient : at(act.logits);
    linearBackward(act.dxn, true, layout.lmHead(), dLogits, allRows(act.xnFinal), n, d, vocab);
    long dxn = tensor.reduceRows(act.dxn, d); // each rank's vocabulary's share
    buffers.zero(at(act.dh), (long) act.rows * d);
    kernels.rmsNormBackward(
        at(act.dh),
        normGradient(layout.finalNorm()),
        at(dxn),
        at(act.layerInput[config.layers()]),
        param(layout.finalNorm()),
        at(act.rstdFinal),
        act.rows,
        d);
    sumNormGradient(layout.finalNorm());
    done(buckets.getFirst());
    announce(ready, buckets.getFirst());
    for (int l = config.layers() - 1; l >= 0; l--) {
      ParameterLayout.Range layer = layerBucket(l);
      take(layer, l > 0 ? layerBucket(l - 1) : null, null, copiesOneBucket());
      if (recompute) {
        layerForward(l);
      }
      layerBackward(l);
      done(layer);
      announce(ready, layer);
    }
    // the embeddings' gradient needs no weights: their bucket is not gathered again
    kernels.embeddingBackward(grad(layout.embeddings()), residualGradient(), ids, n, d);
    announce(ready, buckets.getLast());
    logitsHoldGradient = false;
  }

  /** Backward through block l: act.dh holds dLoss/dhOut on entry and dLoss/dhIn on exit. */
  private void layerBackward(int l) {
    ActivationLayout.Slot s = act.slots[l];
    ParameterLayout.Layer w = layout.layer(l);
    int n = act.tokens;
    int m = act.rows;
    int d = config.dim();
    int kv = kvDim;
    int f = ffnDim;
    long hIn = act.layerInput[l];
    // MLP: hOut = hMid + down(swiglu(gate(xn2), up(xn2)))
    linearBackward(act.dSwi, true, w.down(), residualGradient(), input(s.swi()), n, f, d);
    View dGate = input(act.dGate);
    View dUp = input(act.dUp);
    kernels.swigluBackward(dGate, dUp, at(act.dSwi), at(s.gate()), at(s.up()), (long) n * f);
    View xn2 = allRows(s.xn2());
    linearBackward(act.dxn, true, w.gate(), dGate, xn2, n, d, f);
    linearBackward(act.dxn, false, w.up(), dUp, xn2, n, d, f);
    long dxn = tensor.reduceRows(act.dxn, d); // column-parallel: each rank's units' share
    kernels.rmsNormBackward(
        at(act.dh),
        normGradient(w.mlpNorm()),
        at(dxn),
        at(s.hMid()),
        param(w.mlpNorm()),
        at(s.rstd2()),
        m,
        d);
    sumNormGradient(w.mlpNorm());
    // Attention: hMid = hIn + o(attention(rope(q(xn1)), rope(k(xn1)), v(xn1)))
    linearBackward(act.datt, true, w.wo(), residualGradient(), at(s.att()), n, qDim, d);
    kernels.attentionBackward(
        at(act.dq),
        at(act.dk),
        at(act.dv),
        at(act.datt),
        at(s.q()),
        at(s.k()),
        at(s.v()),
        at(s.att()),
        at(s.lse()),
        attention);
    kernels.rope(at(act.dq), rope, act.batch, act.seq, attention.heads(), 0, true);
    kernels.rope(at(act.dk), rope, act.batch, act.seq, attention.kvHeads(), 0, true);
    View xn1 = allRows(s.xn1());
    linearBackward(act.dxn, true, w.wq(), at(act.dq), xn1, n, d, qDim);
    linearBackward(act.dxn, false, w.wk(), at(act.dk), xn1, n, d, kv);
    linearBackward(act.dxn, false, w.wv(), at(act.dv), xn1, n, d, kv);
    dxn = tensor.reduceRows(act.dxn, d); // column-parallel: each rank's heads' share
    kernels.rmsNormBackward(
        at(act.dh),
        normGradient(w.attentionNorm()),
        at(dxn),
        at(hIn),
        param(w.attentionNorm()),
        at(s.rstd1()),
        m,
        d);
    sumNormGradient(w.attentionNorm());
  }

  /** Layer {@code l}'s bucket of {@link ParameterLayout#buckets()} (the backward's order). */
  private ParameterLayout.Range layerBucket(int l) {
    List<ParameterLayout.Range> buckets = layout.buckets();
    return buckets.get(buckets.size() - 2 - l);
  }

  /**
   * Makes {@code bucket}'s parameters ready to read, {@code next} being read after it (null: none
   * in this pass): from the shards (ZeRO-3), else once a trainer's gather of them is done ({@code
   * needed}); then, when {@code round}, their bf16 copy in mixed precision.
   */
  private void take(
      ParameterLayout.Range bucket,
      ParameterLayout.Range next,
      ParametersNeeded needed,
      boolean round) {
    if (!weights.sharded()) {
      need(needed, bucket);
    }
    weights.take(bucket, next, round);
  }

  /** The pass is done with {@code bucket}: under ZeRO-3 its values go back. */
  private void done(ParameterLayout.Range bucket) {
    weights.done(bucket);
  }

  /** {@code y = x W^T} on the activation arena, in this model's precision (that of its weights). */
  private void linear(long y, View x, long w, int n, int in, int out) {
    kernels.linearForward(at(y), x, weight(w), n, in, out);
  }

  /** The gradients of {@link #linear}: into {@code dx} (arena) and the weight's gradient. */
  private void linearBackward(
      long dx, boolean overwriteDx, long w, View dy, View x, int n, int in, int out) {
    kernels.linearBackward(at(dx), overwriteDx, grad(w), dy, x, weight(w), n, in, out);
  }

  /**
   * The activation at {@code offset} that only linear layers read (a norm's output, SwiGLU's, and
   * backward SwiGLU's input gradients, which only the gate and up projections read): f32, or in
   * mixed precision bf16, written rounded by the kernel that makes it into the first half of its
   * f32 slot, so the linear layers take it as it is instead of rounding it for each product. Bit
   * for bit what rounding it in each product gives.
   */
  private View input(long offset) {
    return bf16 ? at(offset).as(BF16) : at(offset);
  }

  /**
   * A norm's output at {@code local} (this rank's rows) as the products read it, all the tokens'
   * rows: itself, or with sequence parallelism its rows gathered from the group's ranks.
   */
  private View allRows(long local) {
    if (!tensor.sequenceParallel()) {
      return input(local);
    }
    tensor.gatherRows(input(local), input(act.gathered), config.dim());
    return input(act.gathered);
  }

  /**
   * The gradient of the residual stream (act.dh: this rank's rows) for all the tokens, as the
   * row-parallel products' and the embeddings' backward read it: itself, or gathered.
   */
  private View residualGradient() {
    if (!tensor.sequenceParallel()) {
      return at(act.dh);
    }
    tensor.gatherRows(at(act.dh), at(act.full), config.dim());
    return at(act.full);
  }

  /** Copies this rank's rows of the residual's width from {@code from} to {@code to}, if apart. */
  private void moveRows(long from, long to) {
    if (from != to) {
      buffers.copy(at(from), at(to), (long) act.rows * config.dim());
    }
  }

  /**
   * Where a norm's backward accumulates the gradient of its weight at {@code offset}: the gradient
   * itself, or with sequence parallelism a zeroed scratch that {@link #sumNormGradient} sums over
   * the group (each rank saw its rows only) and adds in.
   */
  private View normGradient(long offset) {
    if (!tensor.sequenceParallel()) {
      return grad(offset);
    }
    buffers.zero(at(act.normGrad), config.dim());
    return at(act.normGrad);
  }

  private void sumNormGradient(long offset) {
    if (tensor.sequenceParallel()) {
      tensor.sum(act.normGrad, config.dim());
      kernels.add(grad(offset), at(act.normGrad), config.dim());
    }
  }

  /**
   * Seconds the passes spent in the tensor-parallel group's collectives (waiting for the slowest
   * rank included) since the last call; 0 without tensor parallelism. Nothing overlaps them: each
   * pass waits for its sums.
   */
  public double takeGroupSeconds() {
    return tensor.takeSeconds();
  }

  /** {@code tokens} as rows of this rank's slice of the embeddings: -1 for another rank's. */
  private int[] rowsOfThisSlice(int[] tokens) {
    int first = slice.first(config.vocabSize());
    int[] rows = new int[tokens.length];
    for (int i = 0; i < tokens.length; i++) {
      int row = tokens[i] - first;
      rows[i] = row >= 0 && row < vocab ? row : -1;
    }
    return rows;
  }

  /** A view of the activation arena at {@code offset}. */
  private View at(long offset) {
    return a.plus(offset);
  }

  /** A view of the parameters at {@code offset}: in place, or in the bucket in use (ZeRO-3). */
  private View param(long offset) {
    return weights.param(offset);
  }

  /** A view of the gradients at {@code offset}. */
  private View grad(long offset) {
    return View.of(gradients, offset);
  }

  /** The weight matrix at parameter {@code offset} as the linear layers multiply it. */
  private View weight(long offset) {
    return weights.weight(offset);
  }

  @Override
  public void close() {
    if (vocabParallelLoss != null) {
      vocabParallelLoss.close();
    }
    buffers.close();
  }

  @Override
  public String toString() {
    return "LlamaModel"
        + Arrays.asList(config.dim(), config.layers(), config.heads())
        + " on "
        + kernels.name();
  }
}
