package dev.cria.engine.backend;

import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.util.EnumMap;
import java.util.Map;

/**
 * Wraps a {@link Kernels} and adds up the wall time of each kind of kernel call, for {@code cria
 * bench --profile}: where a training step's time goes.
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
    /** Rounding the weights to their bf16 compute copy (mixed precision). */
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
  public void linearForward(
      MemorySegment y,
      long yOff,
      MemorySegment x,
      long xOff,
      MemorySegment w,
      long wOff,
      int n,
      int in,
      int out) {
    long t = System.nanoTime();
    inner.linearForward(y, yOff, x, xOff, w, wOff, n, in, out);
    add(Op.LINEAR_FORWARD, t);
  }

  @Override
  public void linearBackward(
      MemorySegment dx,
      long dxOff,
      boolean overwriteDx,
      MemorySegment dw,
      long dwOff,
      MemorySegment dy,
      long dyOff,
      MemorySegment x,
      long xOff,
      MemorySegment w,
      long wOff,
      int n,
      int in,
      int out) {
    long t = System.nanoTime();
    inner.linearBackward(
        dx, dxOff, overwriteDx, dw, dwOff, dy, dyOff, x, xOff, w, wOff, n, in, out);
    add(Op.LINEAR_BACKWARD, t);
  }

  @Override
  public void roundToBf16(
      MemorySegment dst, long dstOff, MemorySegment src, long srcOff, long count) {
    long t = System.nanoTime();
    inner.roundToBf16(dst, dstOff, src, srcOff, count);
    add(Op.ROUND_TO_BF16, t);
  }

  @Override
  public void linearForwardBf16(
      MemorySegment y,
      long yOff,
      MemorySegment x,
      long xOff,
      MemorySegment w,
      long wOff,
      int n,
      int in,
      int out) {
    long t = System.nanoTime();
    inner.linearForwardBf16(y, yOff, x, xOff, w, wOff, n, in, out);
    add(Op.LINEAR_FORWARD, t);
  }

  @Override
  public void linearBackwardBf16(
      MemorySegment dx,
      long dxOff,
      boolean overwriteDx,
      MemorySegment dw,
      long dwOff,
      MemorySegment dy,
      long dyOff,
      MemorySegment x,
      long xOff,
      MemorySegment w,
      long wOff,
      int n,
      int in,
      int out) {
    long t = System.nanoTime();
    inner.linearBackwardBf16(
        dx, dxOff, overwriteDx, dw, dwOff, dy, dyOff, x, xOff, w, wOff, n, in, out);
    add(Op.LINEAR_BACKWARD, t);
  }

  @Override
  public String bf16Matmul() {
    return inner.bf16Matmul();
  }

  @Override
  public void embeddingForward(
      MemorySegment out,
      long outOff,
      MemorySegment table,
      long tableOff,
      int[] tokens,
      int n,
      int d) {
    long t = System.nanoTime();
    inner.embeddingForward(out, outOff, table, tableOff, tokens, n, d);
    add(Op.EMBEDDING, t);
  }

  @Override
  public void embeddingBackward(
      MemorySegment dTable,
      long dTableOff,
      MemorySegment dOut,
      long dOutOff,
      int[] tokens,
      int n,
      int d) {
    long t = System.nanoTime();
    inner.embeddingBackward(dTable, dTableOff, dOut, dOutOff, tokens, n, d);
    add(Op.EMBEDDING, t);
  }

  @Override
  public void rmsNormForward(
      MemorySegment out,
      long outOff,
      MemorySegment rstd,
      long rstdOff,
      MemorySegment x,
      long xOff,
      MemorySegment w,
      long wOff,
      int n,
      int d,
      float eps) {
    long t = System.nanoTime();
    inner.rmsNormForward(out, outOff, rstd, rstdOff, x, xOff, w, wOff, n, d, eps);
    add(Op.RMS_NORM, t);
  }

  @Override
  public void rmsNormBackward(
      MemorySegment dx,
      long dxOff,
      MemorySegment dw,
      long dwOff,
      MemorySegment dOut,
      long dOutOff,
      MemorySegment x,
      long xOff,
      MemorySegment w,
      long wOff,
      MemorySegment rstd,
      long rstdOff,
      int n,
      int d) {
    long t = System.nanoTime();
    inner.rmsNormBackward(
        dx, dxOff, dw, dwOff, dOut, dOutOff, x, xOff, w, wOff, rstd, rstdOff, n, d);
    add(Op.RMS_NORM, t);
  }

  @Override
  public void rope(
      MemorySegment x,
      long xOff,
      RopeTable table,
      int batch,
      int seq,
      int heads,
      int firstPosition,
      boolean inverse) {
    long t = System.nanoTime();
    inner.rope(x, xOff, table, batch, seq, heads, firstPosition, inverse);
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
  public void swigluForward(
      MemorySegment h,
      long hOff,
      MemorySegment gate,
      long gateOff,
      MemorySegment up,
      long upOff,
      long count) {
    long t = System.nanoTime();
    inner.swigluForward(h, hOff, gate, gateOff, up, upOff, count);
    add(Op.SWIGLU, t);
  }

  @Override
  public void swigluBackward(
      MemorySegment dGate,
      long dGateOff,
      MemorySegment dUp,
      long dUpOff,
      MemorySegment dh,
      long dhOff,
      MemorySegment gate,
      long gateOff,
      MemorySegment up,
      long upOff,
      long count) {
    long t = System.nanoTime();
    inner.swigluBackward(dGate, dGateOff, dUp, dUpOff, dh, dhOff, gate, gateOff, up, upOff, count);
    add(Op.SWIGLU, t);
  }

  @Override
  public double crossEntropy(
      MemorySegment logits, long logitsOff, int[] targets, int n, int vocab, float gradScale) {
    long t = System.nanoTime();
    double loss = inner.crossEntropy(logits, logitsOff, targets, n, vocab, gradScale);
    add(Op.CROSS_ENTROPY, t);
    return loss;
  }

  @Override
  public void add(MemorySegment dst, long dstOff, MemorySegment src, long srcOff, long count) {
    long t = System.nanoTime();
    inner.add(dst, dstOff, src, srcOff, count);
    add(Op.ELEMENTWISE, t);
  }

  @Override
  public double sumOfSquares(MemorySegment x, long off, long count) {
    long t = System.nanoTime();
    double s = inner.sumOfSquares(x, off, count);
    add(Op.ELEMENTWISE, t);
    return s;
  }

  @Override
  public void scale(MemorySegment x, long off, long count, float factor) {
    long t = System.nanoTime();
    inner.scale(x, off, count, factor);
    add(Op.ELEMENTWISE, t);
  }

  @Override
  public void matVec(View y, View w, View x, int rows, int cols, boolean accumulate) {
    long t = System.nanoTime();
    inner.matVec(y, w, x, rows, cols, accumulate);
    add(Op.DECODE, t);
  }

  @Override
  public void adamw(
      MemorySegment p,
      MemorySegment g,
      MemorySegment m,
      MemorySegment v,
      long momentBase,
      long from,
      long to,
      AdamWUpdate update) {
    long t = System.nanoTime();
    inner.adamw(p, g, m, v, momentBase, from, to, update);
    add(Op.ADAMW, t);
  }
}
