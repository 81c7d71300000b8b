package dev.cria.engine.backend;

import dev.cria.engine.tensor.View;
import java.util.EnumMap;
import java.util.Map;

/**
 * Wraps a {@link Kernels} and adds up the wall time of each kind of kernel call, for {@code cria
 * bench --profile}: where a training step's time goes. A linear layer counts as {@link
 * Op#LINEAR_FORWARD} or {@link Op#LINEAR_BACKWARD} whatever the dtype of its weights.
 */
public final class TimedKernels implements Kernels {
  /** The kinds of kernel calls that are timed apart. */
  public enum Op {
    LINEAR_FORWARD,
    LINEAR_BACKWARD,
    EMBEDDING,
    RMS_NORM,
    ROPE,
    ATTENTION_FORWARD,
    ATTENTION_BACKWARD,
    SWIGLU,
    CROSS_ENTROPY,
    ELEMENTWISE,
    ADAMW,
    DECODE,
    /**
     * Conversions between f32 and bf16: the weights' bf16 compute copy (mixed precision), bf16-sr's
     * moments read and written.
     */
    ROUND_TO_BF16
  }

  private final Kernels inner;
  private final long[] nanos = new long[Op.values().length];

  public TimedKernels(Kernels inner) {
    this.inner = inner;
  }

  /** Seconds spent per kind since the last {@link #reset()}. */
  public Map<Op, Double> seconds() {
    Map<Op, Double> out = new EnumMap<>(Op.class);
    for (Op op : Op.values()) {
      out.put(op, nanos[op.ordinal()] / 1e9);
    }
    return out;
  }

  public void reset() {
    java.util.Arrays.fill(nanos, 0);
  }

  private void add(Op op, long started) {
    nanos[op.ordinal()] += System.nanoTime() - started;
  }

  @Override
  public String name() {
    return inner.name();
  }

  @Override
  public void linearForward(View y, View x, View w, int n, int in, int out) {
    long t = System.nanoTime();
    inner.linearForward(y, x, w, n, in, out);
    add(Op.LINEAR_FORWARD, t);
  }

  @Override
  public void linearBackward(
      View dx, boolean overwriteDx, View dw, View dy, View x, View w, int n, int in, int out) {
    long t = System.nanoTime();
    inner.linearBackward(dx, overwriteDx, dw, dy, x, w, n, in, out);
    add(Op.LINEAR_BACKWARD, t);
  }

  @Override
  public void roundToBf16(View dst, View src, long count) {
    long t = System.nanoTime();
    inner.roundToBf16(dst, src, count);
    add(Op.ROUND_TO_BF16, t);
  }

  @Override
  public void widenBf16(View dst, View src, long count) {
    long t = System.nanoTime();
    inner.widenBf16(dst, src, count);
    add(Op.ROUND_TO_BF16, t);
  }

  @Override
  public String bf16Matmul() {
    return inner.bf16Matmul();
  }

  @Override
  public void embeddingForward(View out, View table, View tokens, int n, int d) {
    long t = System.nanoTime();
    inner.embeddingForward(out, table, tokens, n, d);
    add(Op.EMBEDDING, t);
  }

  @Override
  public void embeddingBackward(View dTable, View dOut, View tokens, int n, int d) {
    long t = System.nanoTime();
    inner.embeddingBackward(dTable, dOut, tokens, n, d);
    add(Op.EMBEDDING, t);
  }

  @Override
  public void rmsNormForward(View out, View rstd, View x, View w, int n, int d, float eps) {
    long t = System.nanoTime();
    inner.rmsNormForward(out, rstd, x, w, n, d, eps);
    add(Op.RMS_NORM, t);
  }

  @Override
  public void rmsNormBackward(
      View dx, View dw, View dOut, View x, View w, View rstd, int n, int d) {
    long t = System.nanoTime();
    inner.rmsNormBackward(dx, dw, dOut, x, w, rstd, n, d);
    add(Op.RMS_NORM, t);
  }

  @Override
  public void rope(
      View x, RopeTable table, int batch, int seq, int heads, int firstPosition, boolean inverse) {
    long t = System.nanoTime();
    inner.rope(x, table, batch, seq, heads, firstPosition, inverse);
    add(Op.ROPE, t);
  }

  @Override
  public void attentionForward(View out, View lse, View q, View k, View v, AttentionShape shape) {
    long t = System.nanoTime();
    inner.attentionForward(out, lse, q, k, v, shape);
    add(Op.ATTENTION_FORWARD, t);
  }

  @Override
  public void attentionBackward(
      View dq,
      View dk,
      View dv,
      View dOut,
      View q,
      View k,
      View v,
      View out,
      View lse,
      AttentionShape shape) {
    long t = System.nanoTime();
    inner.attentionBackward(dq, dk, dv, dOut, q, k, v, out, lse, shape);
    add(Op.ATTENTION_BACKWARD, t);
  }

  @Override
  public void attentionDecode(
      View out,
      View q,
      View keys,
      View values,
      int positions,
      int heads,
      int kvHeads,
      int headDim) {
    long t = System.nanoTime();
    inner.attentionDecode(out, q, keys, values, positions, heads, kvHeads, headDim);
    add(Op.DECODE, t);
  }

  @Override
  public void swigluForward(View h, View gate, View up, long count) {
    long t = System.nanoTime();
    inner.swigluForward(h, gate, up, count);
    add(Op.SWIGLU, t);
  }

  @Override
  public void swigluBackward(View dGate, View dUp, View dh, View gate, View up, long count) {
    long t = System.nanoTime();
    inner.swigluBackward(dGate, dUp, dh, gate, up, count);
    add(Op.SWIGLU, t);
  }

  @Override
  public double crossEntropy(View logits, View targets, int n, int vocab, float gradScale) {
    long t = System.nanoTime();
    double loss = inner.crossEntropy(logits, targets, n, vocab, gradScale);
    add(Op.CROSS_ENTROPY, t);
    return loss;
  }

  @Override
  public double crossEntropy(
      View dLogits, View logits, View targets, int n, int vocab, float gradScale) {
    long t = System.nanoTime();
    double loss = inner.crossEntropy(dLogits, logits, targets, n, vocab, gradScale);
    add(Op.CROSS_ENTROPY, t);
    return loss;
  }

  @Override
  public void softmaxStatistics(
      View max, View sums, View targetLogits, View logits, View targets, int n, int v) {
    long t = System.nanoTime();
    inner.softmaxStatistics(max, sums, targetLogits, logits, targets, n, v);
    add(Op.CROSS_ENTROPY, t);
  }

  @Override
  public void softmaxGradient(
      View logits, View max, View sums, View targets, int n, int v, float gradScale) {
    long t = System.nanoTime();
    inner.softmaxGradient(logits, max, sums, targets, n, v, gradScale);
    add(Op.CROSS_ENTROPY, t);
  }

  @Override
  public void add(View dst, View src, long count) {
    long t = System.nanoTime();
    inner.add(dst, src, count);
    add(Op.ELEMENTWISE, t);
  }

  @Override
  public double sumOfSquares(View x, long count) {
    long t = System.nanoTime();
    double s = inner.sumOfSquares(x, count);
    add(Op.ELEMENTWISE, t);
    return s;
  }

  @Override
  public void scale(View x, long count, float factor) {
    long t = System.nanoTime();
    inner.scale(x, count, factor);
    add(Op.ELEMENTWISE, t);
  }

  @Override
  public void roundBf16Stochastic(View x, long count, long seed, long firstIndex) {
    long t = System.nanoTime();
    inner.roundBf16Stochastic(x, count, seed, firstIndex);
    add(Op.ELEMENTWISE, t);
  }

  @Override
  public void matVec(View y, View w, View x, int rows, int cols, boolean accumulate) {
    long t = System.nanoTime();
    inner.matVec(y, w, x, rows, cols, accumulate);
    add(Op.DECODE, t);
  }

  @Override
  public void adamw(View p, View g, View m, View v, long count, AdamWUpdate update) {
    long t = System.nanoTime();
    inner.adamw(p, g, m, v, count, update);
    add(Op.ADAMW, t);
  }

  @Override
  public void adamwStochastic(
      View p, View g, View m, View v, long count, AdamWUpdate update, StochasticDraws draws) {
    long t = System.nanoTime();
    inner.adamwStochastic(p, g, m, v, count, update, draws);
    add(Op.ADAMW, t);
  }
}
