package dev.cria.engine.model;

/**
 * Offsets (in floats) of the activations that one training step keeps, for a micro-batch of {@code
 * batch} sequences of {@code seq} tokens; N = batch x seq. Sized once; nothing is allocated per
 * step.
 *
 * <p>Each layer has its input residual {@code hIn [N, D]}. The rest of a layer's activations live
 * in a {@link Slot}: one per layer, or, with activation recompute, one shared by all layers and
 * refilled from {@code hIn} during the backward pass.
 *
 * <p>With sequence parallelism a rank holds M = N / tp rows of the residual stream, of the norms'
 * outputs and statistics and of the residual's gradient; the products read all N rows of a norm's
 * output, gathered into {@code gathered}, and write all N rows of their partial sums into {@code
 * full} before the reduce-scatter keeps M of them. Without it M = N and those two are empty.
 */
final class ActivationLayout {
  /** A layer's saved activations. */
  record Slot(
      long xn1,
      long rstd1,
      long q,
      long k,
      long v,
      long att,
      long lse,
      long hMid,
      long xn2,
      long rstd2,
      long gate,
      long up,
      long swi) {}

  final int batch;
  final int seq;
  final int tokens;
  final int rows; // of the residual stream on this rank: M
  final long[] layerInput; // [L + 1]: the last one is the final hidden state
  final Slot[] slots;
  final long xnFinal;
  final long rstdFinal;
  final long logits;
  // Gradient scratch
  final long dh;
  final long dxn;
  final long datt;
  final long dq;
  final long dk;
  final long dv;
  final long dGate;
  final long dUp;
  final long dSwi;
  // sequence parallelism: all rows of a norm's output, of a product's partial sums; a norm
  // weight's gradient from this rank's rows, before the group sums it
  final long gathered;
  final long full;
  final long normGrad;
  final long size;

  ActivationLayout(LlamaConfig c, int batch, int seq, boolean recompute) {
    this(c, batch, seq, recompute, ModelSlice.WHOLE);
  }

  /**
   * The activations of a tensor-parallel rank holding {@code slice}: the residual stream, the
   * norms' outputs and their gradients whole, the rest (its heads' q, k, v, attention and
   * statistics, its share of the MLP's hidden units and of the logits) its own.
   */
  ActivationLayout(LlamaConfig c, int batch, int seq, boolean recompute, ModelSlice slice) {
    this(c, batch, seq, recompute, slice, false);
  }

  /**
   * As above, with the residual stream split along the tokens among the slices ({@code
   * sequenceParallel}, which needs them to divide the tokens).
   */
  ActivationLayout(
      LlamaConfig c,
      int batch,
      int seq,
      boolean recompute,
      ModelSlice slice,
      boolean sequenceParallel) {
    this.batch = batch;
    this.seq = seq;
    this.tokens = batch * seq;
    int parts = slice.parts();
    boolean split = sequenceParallel && parts > 1;
    this.rows = split ? tokens / parts : tokens;
    long n = tokens;
    long m = rows;
    long d = c.dim();
    long qd = d / parts;
    long kv = c.kvDim() / parts;
    long f = c.ffnDim() / parts;
    long heads = c.heads() / parts;
    long vocab = c.vocabSize() / parts;
    long next = 0;
    layerInput = new long[c.layers() + 1];
    for (int l = 0; l <= c.layers(); l++) {
      layerInput[l] = next;
      next += m * d;
    }
    int slotCount = recompute ? 1 : c.layers();
    slots = new Slot[c.layers()];
    for (int s = 0; s < slotCount; s++) {
      long xn1 = next;
      long rstd1 = xn1 + m * d;
      long q = rstd1 + m;
      long k = q + n * qd;
      long v = k + n * kv;
      long att = v + n * kv;
      long lse = att + n * qd;
      long hMid = lse + batch * heads * seq;
      long xn2 = hMid + m * d;
      long rstd2 = xn2 + m * d;
      long gate = rstd2 + m;
      long up = gate + n * f;
      long swi = up + n * f;
      next = swi + n * f;
      slots[s] = new Slot(xn1, rstd1, q, k, v, att, lse, hMid, xn2, rstd2, gate, up, swi);
    }
    for (int s = slotCount; s < c.layers(); s++) {
      slots[s] = slots[0];
    }
    xnFinal = next;
    rstdFinal = xnFinal + m * d;
    logits = rstdFinal + m;
    dh = logits + n * vocab;
    dxn = dh + m * d;
    datt = dxn + n * d;
    dq = datt + n * qd;
    dk = dq + n * qd;
    dv = dk + n * kv;
    dGate = dv + n * kv;
    dUp = dGate + n * f;
    dSwi = dUp + n * f;
    gathered = dSwi + n * f;
    full = gathered + (split ? n * d : 0);
    normGrad = full + (split ? n * d : 0);
    size = normGrad + (split ? d : 0);
  }
}
