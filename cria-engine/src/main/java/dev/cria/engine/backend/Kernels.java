package dev.cria.engine.backend;

import dev.cria.engine.tensor.View;

/**
 * The kernels the Llama model, AdamW, clipping and the decoder are made of: everything that touches
 * a buffer's numbers goes through here, so that a {@link Backend} can run it where its memory is.
 * Forward kernels overwrite their output; backward kernels accumulate into parameter gradients (so
 * micro-batches can accumulate) and into input gradients where the input feeds several consumers
 * (the residual stream); the exceptions say so.
 *
 * <p>Every operand is a {@link View}: a buffer, the offset where the tensor starts and its dtype,
 * the offset counted in elements of that dtype. Operands are f32 unless a kernel says otherwise; a
 * kernel throws an {@link IllegalArgumentException} that names the operand and the dtype it got
 * when an operand's dtype is not one it takes. Sizes are plain parameters, or a record such as
 * {@link AttentionShape}.
 *
 * <p>Implementations: {@code ReferenceKernels} (plain loops, the reference) and {@code CpuKernels}
 * (Vector API, all cores), each behind its backend; {@link TimedKernels} times either.
 */
public interface Kernels {

  /** A short name for logs and benchmarks. */
  String name();

  /**
   * {@code y[n, out] = x[n, in] · w[out, in]^T}, in the precision of {@code w}: f32 weights take
   * the fp32 product; bf16 weights (the compute copy of mixed precision) take {@code x} rounded to
   * bf16 (or {@code x} as it is when it is bf16 already: an input the model keeps in bf16), each
   * product exact and the sums in fp32 (PyTorch's bf16 autocast). {@code y} is f32 either way;
   * {@code x} is f32 against f32 weights.
   */
  void linearForward(View y, View x, View w, int n, int in, int out);

  /**
   * {@code dx[n, in] += dy[n, out] · w[out, in]} and {@code dw[out, in] += dy^T · x}. With {@code
   * overwriteDx} the input gradient is written instead of accumulated. In the precision of {@code
   * w}, as {@link #linearForward}: with bf16 weights {@code dy} and {@code x} are rounded to bf16
   * (either may be bf16 already), and {@code dw} is still accumulated in fp32 (Megatron's {@code
   * accumulate_allreduce_grads_in_fp32}); {@code dx} and {@code dw} are f32, and so are {@code dy}
   * and {@code x} against f32 weights.
   */
  void linearBackward(
      View dx, boolean overwriteDx, View dw, View dy, View x, View w, int n, int in, int out);

  /**
   * Rounds {@code count} elements of {@code src} (f32) to bf16 (nearest, ties to even) into {@code
   * dst} (bf16): the compute copy of the weights in mixed precision.
   */
  void roundToBf16(View dst, View src, long count);

  /**
   * Widens {@code count} elements of {@code src} (bf16) into {@code dst} (f32), exactly: how bf16
   * storage (bf16-sr's AdamW moments) is read back for arithmetic in f32.
   */
  void widenBf16(View dst, View src, long count);

  /**
   * Which bf16 product {@link #linearForward} and {@link #linearBackward} run on bf16 weights, and
   * why (for the run's header): {@code oneDNN 3.11.0 (OpenMP, 2 threads)}, or the Java one and the
   * reason. May load a native library the first time.
   */
  String bf16Matmul();

  /**
   * {@code out[i, :] = table[tokens[i], :]} for i in [0, n), {@code tokens} i32; a token of -1
   * gives a row of zeros (a tensor-parallel rank's table holds a slice of the vocabulary, and
   * tokens outside it are -1).
   */
  void embeddingForward(View out, View table, View tokens, int n, int d);

  /** {@code dTable[tokens[i], :] += dOut[i, :]}, {@code tokens} i32; a token of -1 adds nothing. */
  void embeddingBackward(View dTable, View dOut, View tokens, int n, int d);

  /**
   * RMSNorm: {@code out[i] = x[i] * rstd[i] * w} with {@code rstd[i] = 1 / sqrt(mean(x[i]^2) +
   * eps)}, saved for the backward pass. {@code out} may be bf16: the fp32 result rounded (mixed
   * precision keeps the norms' outputs, which only linear layers read, in bf16).
   */
  void rmsNormForward(View out, View rstd, View x, View w, int n, int d, float eps);

  /** {@code dx += d(out)/dx · dOut} and {@code dw += sum_i dOut[i] * x[i] * rstd[i]}. */
  void rmsNormBackward(View dx, View dw, View dOut, View x, View w, View rstd, int n, int d);

  /**
   * Rotary position embedding in place, half-split convention (Hugging Face, Megatron, NeMo):
   * within each head, element j pairs with j + hd/2. {@code x} is [batch, seq, heads, hd]; the
   * position of row t of a sequence is {@code firstPosition + t} (0 in training; the cache position
   * when decoding). {@code inverse} applies the transposed rotation (the backward pass).
   */
  void rope(
      View x, RopeTable table, int batch, int seq, int heads, int firstPosition, boolean inverse);

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

  /**
   * SwiGLU: {@code h = silu(gate) * up}, elementwise over {@code count} elements. {@code h} may be
   * bf16: the fp32 result rounded.
   */
  void swigluForward(View h, View gate, View up, long count);

  /**
   * Gradients of SwiGLU: dGate and dUp are overwritten; either may be bf16 (the fp32 result
   * rounded), for linear layers that take it as their output gradient.
   */
  void swigluBackward(View dGate, View dUp, View dh, View gate, View up, long count);

  /**
   * Cross-entropy fused with softmax: for each row i with {@code targets[i] >= 0}, adds {@code -log
   * softmax(logits[i])[targets[i]]} to the returned sum, and overwrites {@code logits[i]} with its
   * gradient times {@code gradScale}: {@code (softmax - onehot) * gradScale}. Rows with target -1
   * are ignored and get a zero gradient. {@code targets} is i32.
   *
   * @return the sum of the losses of the counted rows (the caller divides by their number)
   */
  double crossEntropy(View logits, View targets, int n, int vocab, float gradScale);

  /**
   * {@link #crossEntropy(View, View, int, int, float)} that leaves the logits as they are and
   * writes the gradient to {@code dLogits} instead, bf16: each element the fp32 gradient rounded to
   * the nearest bf16, ties to even, which is what a bf16 product of the fp32 gradient would round
   * it to (mixed precision's LM head reads it so, without a pass of its own). {@code dLogits} must
   * not overlap the logits.
   */
  double crossEntropy(View dLogits, View logits, View targets, int n, int vocab, float gradScale);

  /** In {@link #softmaxGradient}'s targets: the row's target is in another rank's slice. */
  int TARGET_ELSEWHERE = -1;

  /** In {@link #softmaxGradient}'s targets: the row is not counted; its gradient is zero. */
  int NOT_COUNTED = -2;

  /**
   * The softmax statistics of each row of a slice of the logits {@code [n, v]} (a
   * vocabulary-parallel cross-entropy combines the slices'): {@code max[i]}, the row's largest
   * logit, {@code sums[i]}, the sum over the row of {@code exp(logit - max[i])}, and {@code
   * targetLogits[i]}, the logit in column {@code targets[i]} (i32, as {@link #softmaxGradient}
   * reads them), or 0 when the target is {@link #TARGET_ELSEWHERE} or {@link #NOT_COUNTED}.
   */
  void softmaxStatistics(
      View max, View sums, View targetLogits, View logits, View targets, int n, int v);

  /**
   * Overwrites each row of a slice of the logits {@code [n, v]} with its part of the cross-entropy
   * gradient times {@code gradScale}, given the whole row's largest logit {@code max[i]} and sum
   * {@code sums[i]} of {@code exp(logit - max[i])}: {@code (exp(logit - max[i]) / sums[i] - onehot)
   * * gradScale}, where {@code targets[i]} is the target's column in this slice, {@link
   * #TARGET_ELSEWHERE} or {@link #NOT_COUNTED} (zeros); i32.
   */
  void softmaxGradient(
      View logits, View max, View sums, View targets, int n, int v, float gradScale);

  /** {@code dst += src}, elementwise over {@code count} elements. */
  void add(View dst, View src, long count);

  /** Sum of squares of {@code count} elements, accumulated in double. */
  double sumOfSquares(View x, long count);

  /** {@code x *= factor}, elementwise over {@code count} elements. */
  void scale(View x, long count, float factor);

  /**
   * Rounds {@code count} fp32 elements of {@code x} in place to bf16 values, stochastically ({@link
   * dev.cria.engine.tensor.Bf16#roundStochastic}), element {@code i} drawing {@link
   * dev.cria.engine.tensor.Bf16#noise16 noise16(seed, firstIndex + i)}: the result depends on the
   * seed and each element's index in the whole buffer, never on threads or shards.
   */
  void roundBf16Stochastic(View x, long count, long seed, long firstIndex);

  /**
   * {@code y[r] = w[r, :] · x} for r in [0, rows) ({@code y[r] +=} with {@code accumulate}): the
   * matrix-vector product of decoding. Each row's sum is taken in a fixed order, so the result does
   * not depend on the thread count.
   */
  void matVec(View y, View w, View x, int rows, int cols, boolean accumulate);

  /**
   * One AdamW update of {@code count} parameters from {@code p} (one tensor or a part of it) from
   * their gradients at {@code g}; their moments are at {@code m} and {@code v}.
   */
  void adamw(View p, View g, View m, View v, long count, AdamWUpdate update);

  /**
   * bf16-sr's AdamW, fused: the moments {@code m} and {@code v} are bf16, the parameters {@code p}
   * and gradients {@code g} f32; each element's moments are widened, updated with its parameter as
   * {@link #adamw} does, and the three results rounded to bf16 values stochastically as {@link
   * #roundBf16Stochastic} does, each array with its seed from {@code draws}; the moments are stored
   * in bf16. The same bits as those kernels one after another, in one pass over memory.
   */
  void adamwStochastic(
      View p, View g, View m, View v, long count, AdamWUpdate update, StochasticDraws draws);
}
