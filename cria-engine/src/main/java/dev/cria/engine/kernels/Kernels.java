package dev.cria.engine.kernels;

import java.lang.foreign.MemorySegment;

/**
 * The kernels the Llama model is made of. Forward kernels overwrite their output; backward kernels
 * accumulate into parameter gradients (so micro-batches can accumulate) and into input gradients
 * where the input feeds several consumers (the residual stream); the exceptions say so.
 *
 * <p>Implementations: {@link ReferenceKernels} (plain loops, the reference) and {@link CpuKernels}.
 */
public interface Kernels {

  /** A short name for logs and benchmarks. */
  String name();

  /** {@code y[n, out] = x[n, in] · w[out, in]^T}. */
  void linearForward(MemorySegment y, long yOff, MemorySegment x, long xOff, MemorySegment w, long wOff,
      int n, int in, int out);

  /**
   * {@code dx[n, in] += dy[n, out] · w[out, in]} and {@code dw[out, in] += dy^T · x}. With
   * {@code overwriteDx} the input gradient is written instead of accumulated.
   */
  void linearBackward(MemorySegment dx, long dxOff, boolean overwriteDx, MemorySegment dw, long dwOff,
      MemorySegment dy, long dyOff, MemorySegment x, long xOff, MemorySegment w, long wOff, int n, int in, int out);

  /** {@code out[i, :] = table[tokens[i], :]} for i in [0, n). */
  void embeddingForward(MemorySegment out, long outOff, MemorySegment table, long tableOff, int[] tokens, int n, int d);

  /** {@code dTable[tokens[i], :] += dOut[i, :]}. */
  void embeddingBackward(MemorySegment dTable, long dTableOff, MemorySegment dOut, long dOutOff, int[] tokens,
      int n, int d);

  /**
   * RMSNorm: {@code out[i] = x[i] * rstd[i] * w} with {@code rstd[i] = 1 / sqrt(mean(x[i]^2) + eps)},
   * saved for the backward pass.
   */
  void rmsNormForward(MemorySegment out, long outOff, MemorySegment rstd, long rstdOff, MemorySegment x, long xOff,
      MemorySegment w, long wOff, int n, int d, float eps);

  /** {@code dx += d(out)/dx · dOut} and {@code dw += sum_i dOut[i] * x[i] * rstd[i]}. */
  void rmsNormBackward(MemorySegment dx, long dxOff, MemorySegment dw, long dwOff, MemorySegment dOut, long dOutOff,
      MemorySegment x, long xOff, MemorySegment w, long wOff, MemorySegment rstd, long rstdOff, int n, int d);

  /**
   * Rotary position embedding in place, half-split convention (Hugging Face, Megatron, NeMo):
   * within each head, element j pairs with j + hd/2. {@code x} is [batch, seq, heads, hd]; position
   * = index within the sequence. {@code inverse} applies the transposed rotation (the backward pass).
   */
  void rope(MemorySegment x, long xOff, RopeTable table, int batch, int seq, int heads, boolean inverse);

  /**
   * Causal self-attention with grouped-query heads: for query head h the key/value head is
   * {@code h / (heads / kvHeads)}. q [batch, seq, heads, hd], k and v [batch, seq, kvHeads, hd],
   * out like q; {@code lse} [batch, heads, seq] receives each row's log-sum-exp of the scaled
   * scores, for the backward pass.
   */
  void attentionForward(MemorySegment out, long outOff, MemorySegment lse, long lseOff, MemorySegment q, long qOff,
      MemorySegment k, long kOff, MemorySegment v, long vOff, int batch, int seq, int heads, int kvHeads, int headDim);

  /** Gradients of attention: dq, dk, dv are overwritten. */
  void attentionBackward(MemorySegment dq, long dqOff, MemorySegment dk, long dkOff, MemorySegment dv, long dvOff,
      MemorySegment dOut, long dOutOff, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v,
      long vOff, MemorySegment out, long outOff, MemorySegment lse, long lseOff, int batch, int seq, int heads,
      int kvHeads, int headDim);

  /** SwiGLU: {@code h = silu(gate) * up}, elementwise over {@code count} floats. */
  void swigluForward(MemorySegment h, long hOff, MemorySegment gate, long gateOff, MemorySegment up, long upOff,
      long count);

  /** Gradients of SwiGLU: dGate and dUp are overwritten. */
  void swigluBackward(MemorySegment dGate, long dGateOff, MemorySegment dUp, long dUpOff, MemorySegment dh, long dhOff,
      MemorySegment gate, long gateOff, MemorySegment up, long upOff, long count);

  /**
   * Cross-entropy fused with softmax: for each row i with {@code targets[i] >= 0}, adds
   * {@code -log softmax(logits[i])[targets[i]]} to the returned sum, and overwrites
   * {@code logits[i]} with its gradient times {@code gradScale}: {@code (softmax - onehot) *
   * gradScale}. Rows with target -1 are ignored and get a zero gradient.
   *
   * @return the sum of the losses of the counted rows (the caller divides by their number)
   */
  double crossEntropy(MemorySegment logits, long logitsOff, int[] targets, int n, int vocab, float gradScale);

  /** {@code dst += src}, elementwise over {@code count} floats. */
  void add(MemorySegment dst, long dstOff, MemorySegment src, long srcOff, long count);

  /** Sum of squares of {@code count} floats, accumulated in double. */
  double sumOfSquares(MemorySegment x, long off, long count);

  /** {@code x *= factor}, elementwise. */
  void scale(MemorySegment x, long off, long count, float factor);
}
