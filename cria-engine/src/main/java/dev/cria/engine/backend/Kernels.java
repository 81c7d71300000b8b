package dev.cria.engine.backend;

import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;

/**
 * The kernels the Llama model, AdamW, clipping and the decoder are made of: everything that touches
 * a buffer's numbers goes through here, so that a {@link Backend} can run it where its memory is.
 * Forward kernels overwrite their output; backward kernels accumulate into parameter gradients (so
 * micro-batches can accumulate) and into input gradients where the input feeds several consumers
 * (the residual stream); the exceptions say so.
 *
 * <p>Implementations: {@code ReferenceKernels} (plain loops, the reference) and {@code CpuKernels}
 * (Vector API, all cores), each behind its backend.
 */
public interface Kernels {

  /** A short name for logs and benchmarks. */
  String name();

  /** {@code y[n, out] = x[n, in] · w[out, in]^T}. */
  void linearForward(
      MemorySegment y,
      long yOff,
      MemorySegment x,
      long xOff,
      MemorySegment w,
      long wOff,
      int n,
      int in,
      int out);

  /**
   * {@code dx[n, in] += dy[n, out] · w[out, in]} and {@code dw[out, in] += dy^T · x}. With {@code
   * overwriteDx} the input gradient is written instead of accumulated.
   */
  void linearBackward(
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
      int out);

  /**
   * Rounds {@code count} floats of {@code src} to bf16 (nearest, ties to even) into {@code dst},
   * whose offset counts bf16 elements: the compute copy of the weights in mixed precision.
   */
  void roundToBf16(MemorySegment dst, long dstOff, MemorySegment src, long srcOff, long count);

  /**
   * {@link #linearForward} in mixed precision: {@code x} rounded to bf16, {@code w} already bf16
   * ({@code wOff} in bf16 elements), products exact and sums in fp32, {@code y} fp32.
   */
  void linearForwardBf16(
      MemorySegment y,
      long yOff,
      MemorySegment x,
      long xOff,
      MemorySegment w,
      long wOff,
      int n,
      int in,
      int out);

  /**
   * {@link #linearBackward} in mixed precision: {@code dy} and {@code x} rounded to bf16, {@code w}
   * bf16 ({@code wOff} in bf16 elements); {@code dx} and {@code dw} fp32, {@code dw} accumulated in
   * fp32 (Megatron's {@code accumulate_allreduce_grads_in_fp32}).
   */
  void linearBackwardBf16(
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
      int out);

  /**
   * Which bf16 product {@link #linearForwardBf16} and {@link #linearBackwardBf16} run, and why (for
   * the run's header): {@code oneDNN 3.11.0 (OpenMP, 2 threads)}, or the Java one and the reason.
   * May load a native library the first time.
   */
  String bf16Matmul();

  /** {@code out[i, :] = table[tokens[i], :]} for i in [0, n). */
  void embeddingForward(
      MemorySegment out,
      long outOff,
      MemorySegment table,
      long tableOff,
      int[] tokens,
      int n,
      int d);

  /** {@code dTable[tokens[i], :] += dOut[i, :]}. */
  void embeddingBackward(
      MemorySegment dTable,
      long dTableOff,
      MemorySegment dOut,
      long dOutOff,
      int[] tokens,
      int n,
      int d);

  /**
   * RMSNorm: {@code out[i] = x[i] * rstd[i] * w} with {@code rstd[i] = 1 / sqrt(mean(x[i]^2) +
   * eps)}, saved for the backward pass.
   */
  void rmsNormForward(
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
      float eps);

  /** {@code dx += d(out)/dx · dOut} and {@code dw += sum_i dOut[i] * x[i] * rstd[i]}. */
  void rmsNormBackward(
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
      int d);

  /**
   * Rotary position embedding in place, half-split convention (Hugging Face, Megatron, NeMo):
   * within each head, element j pairs with j + hd/2. {@code x} is [batch, seq, heads, hd]; the
   * position of row t of a sequence is {@code firstPosition + t} (0 in training; the cache position
   * when decoding). {@code inverse} applies the transposed rotation (the backward pass).
   */
  void rope(
      MemorySegment x,
      long xOff,
      RopeTable table,
      int batch,
      int seq,
      int heads,
      int firstPosition,
      boolean inverse);

  /**
   * Causal self-attention with grouped-query heads (see {@link AttentionShape}); {@code lse}
   * receives each row's log-sum-exp of the scaled scores, for the backward pass.
   */
  void attentionForward(View out, View lse, View q, View k, View v, AttentionShape shape);

  /**
   * Gradients of attention, from the forward pass's q, k, v, out and lse: dq, dk, dv are
   * overwritten.
   */
  void attentionBackward(
      View dq,
      View dk,
      View dv,
      View dOut,
      View q,
      View k,
      View v,
      View out,
      View lse,
      AttentionShape shape);

  /**
   * Attention of one new position over a key/value cache, for decoding: {@code q} and {@code out}
   * are {@code [heads, headDim]}, {@code keys} and {@code values} {@code [positions, kvHeads,
   * headDim]} (RoPE already applied to the keys); query head h attends to every cached position of
   * key/value head {@code h / (heads / kvHeads)}. {@code out} is overwritten.
   */
  void attentionDecode(
      View out, View q, View keys, View values, int positions, int heads, int kvHeads, int headDim);

  /** SwiGLU: {@code h = silu(gate) * up}, elementwise over {@code count} floats. */
  void swigluForward(
      MemorySegment h,
      long hOff,
      MemorySegment gate,
      long gateOff,
      MemorySegment up,
      long upOff,
      long count);

  /** Gradients of SwiGLU: dGate and dUp are overwritten. */
  void swigluBackward(
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
      long count);

  /**
   * Cross-entropy fused with softmax: for each row i with {@code targets[i] >= 0}, adds {@code -log
   * softmax(logits[i])[targets[i]]} to the returned sum, and overwrites {@code logits[i]} with its
   * gradient times {@code gradScale}: {@code (softmax - onehot) * gradScale}. Rows with target -1
   * are ignored and get a zero gradient.
   *
   * @return the sum of the losses of the counted rows (the caller divides by their number)
   */
  double crossEntropy(
      MemorySegment logits, long logitsOff, int[] targets, int n, int vocab, float gradScale);

  /** {@code dst += src}, elementwise over {@code count} floats. */
  void add(MemorySegment dst, long dstOff, MemorySegment src, long srcOff, long count);

  /** Sum of squares of {@code count} floats, accumulated in double. */
  double sumOfSquares(MemorySegment x, long off, long count);

  /** {@code x *= factor}, elementwise. */
  void scale(MemorySegment x, long off, long count, float factor);

  /**
   * {@code y[r] = w[r, :] · x} for r in [0, rows) ({@code y[r] +=} with {@code accumulate}): the
   * matrix-vector product of decoding. Each row's sum is taken in a fixed order, so the result does
   * not depend on the thread count.
   */
  void matVec(View y, View w, View x, int rows, int cols, boolean accumulate);

  /**
   * One AdamW update of parameters {@code [from, to)} (one tensor or a part of it) from their
   * gradients; the moments of parameter i are at {@code m[i - momentBase]} and {@code v[i -
   * momentBase]}.
   */
  void adamw(
      MemorySegment p,
      MemorySegment g,
      MemorySegment m,
      MemorySegment v,
      long momentBase,
      long from,
      long to,
      AdamWUpdate update);
}
