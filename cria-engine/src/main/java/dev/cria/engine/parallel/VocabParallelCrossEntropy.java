package dev.cria.engine.parallel;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.View;

/**
 * Cross-entropy over logits split by vocabulary across a tensor-parallel group, as Megatron-Core's
 * {@code vocab_parallel_cross_entropy}: each rank holds the logits of its slice of the vocabulary
 * ({@code [n, shardVocab]}, columns {@code [vocabStart, vocabStart + shardVocab)} of the whole),
 * and the full logits rows are never gathered. Each rank finds its slice's softmax statistics per
 * row (the largest logit, the sum of {@code exp(logit - max)}) and the target's logit where it
 * holds it, in one pass ({@link Kernels#softmaxStatistics}); one all-gather of those three numbers
 * per row and rank lets every rank combine them, in rank order and so to the same bits everywhere,
 * into the whole row's maximum, sum and loss. Each rank then turns its slice into that slice of the
 * gradient, {@code (softmax - onehot) * gradScale} ({@link Kernels#softmaxGradient}), as the
 * unsplit kernel ({@code Kernels.crossEntropy}) does for whole rows. Rows whose target is -1 count
 * for nothing and get a zero gradient.
 *
 * <p>The slices' sums are combined in double, rescaled to the row's maximum (as an online softmax
 * does), so the loss equals the unsplit kernel's to float rounding, not bit for bit. What calls it:
 * the LM head of a tensor-parallel {@code LlamaModel}, on the model's tensor-parallel group, which
 * makes one for its micro-batch: the buffers the ranks' numbers meet in are allocated once.
 */
public final class VocabParallelCrossEntropy implements AutoCloseable {
  private final Collective group;
  private final Kernels kernels;
  private final int n;
  private final Buffers buffers;
  private final View gathered; // each rank's maxima, sums and target logits: 3n a rank
  private final View whole; // the whole rows' maxima and sums: 2n
  private final View columns; // i32: each row's target column in this slice, or why none: n

  /** The loss of {@code n} rows over {@code group}, computed and kept on {@code backend}. */
  public VocabParallelCrossEntropy(Collective group, Backend backend, int n) {
    if (n < 0) {
      throw new IllegalArgumentException("n " + n);
    }
    this.group = group;
    this.kernels = backend.kernels();
    this.n = n;
    this.buffers = backend.buffers();
    try {
      this.gathered = buffers.allocate(DType.F32, gatheredFloats(group.worldSize(), n));
      this.whole = buffers.allocate(DType.F32, 2L * Math.max(n, 1));
      this.columns = buffers.allocate(DType.I32, Math.max(n, 1));
    } catch (RuntimeException | Error e) {
      buffers.close();
      throw e;
    }
  }

  /** Bytes one allocates for {@code n} rows over a group of {@code ranks}. */
  public static long bytes(int ranks, int n) {
    return (gatheredFloats(ranks, n) + 2L * Math.max(n, 1)) * DType.F32.bytes()
        + Math.max(n, 1) * (long) DType.I32.bytes();
  }

  private static long gatheredFloats(int ranks, int n) {
    return Math.max(3L * ranks * n, 1);
  }

  /**
   * Replaces this rank's logits slice ({@code n} rows of {@code shardVocab} floats at {@code
   * logits}) by its gradient and returns the summed loss of the counted rows (the same on every
   * rank of the group).
   *
   * @param targets each row's target token id in the whole vocabulary, or -1 to skip the row
   * @param vocabStart the first vocabulary column this rank holds
   */
  public double lossAndGradient(
      View logits, int[] targets, int shardVocab, int vocabStart, float gradScale) {
    if (targets.length < n || shardVocab < 1 || vocabStart < 0) {
      throw new IllegalArgumentException(
          "n " + n + ", shard vocabulary " + shardVocab + " from " + vocabStart);
    }
    logits.require(DType.F32, "logits");
    int ranks = group.worldSize();
    // 1. each rank's maxima, sums and target logits, gathered: 3n floats a rank
    long total = 3L * ranks * n;
    long mine = at(group, total, group.rank(), 3 * n);
    int[] local = new int[n];
    for (int i = 0; i < n; i++) {
      int column = targets[i] - vocabStart;
      boolean here = targets[i] >= 0 && column >= 0 && column < shardVocab;
      local[i] = targets[i] < 0 ? Kernels.NOT_COUNTED : here ? column : Kernels.TARGET_ELSEWHERE;
    }
    buffers.upload(local, columns);
    kernels.softmaxStatistics(
        gathered.plus(mine),
        gathered.plus(mine + n),
        gathered.plus(mine + 2L * n),
        logits,
        columns,
        n,
        shardVocab);
    group.allGather(gathered, total);
    float[] all = buffers.download(gathered, Math.toIntExact(total));

    // 2. the whole rows' maxima and sums, and the loss, combined in rank order on every rank
    int[] from = new int[ranks]; // total fits an int: it was downloaded as one array
    for (int r = 0; r < ranks; r++) {
      from[r] = (int) at(group, total, r, 3 * n);
    }
    double loss = 0;
    float[] rows = new float[2 * n];
    for (int i = 0; i < n; i++) {
      float max = Float.NEGATIVE_INFINITY;
      for (int r = 0; r < ranks; r++) {
        max = Math.max(max, all[from[r] + i]);
      }
      double sum = 0;
      double target = 0;
      for (int r = 0; r < ranks; r++) {
        float theirs = all[from[r] + i];
        if (theirs > Float.NEGATIVE_INFINITY) { // a slice of -inf logits adds nothing
          sum += all[from[r] + n + i] * Math.exp(theirs - max);
        }
        target += all[from[r] + 2 * n + i];
      }
      rows[i] = max;
      rows[n + i] = (float) sum;
      if (targets[i] >= 0) {
        loss += Math.log(sum) + max - target;
      }
    }

    // 3. this slice of each row's gradient
    buffers.upload(rows, whole);
    kernels.softmaxGradient(logits, whole, whole.plus(n), columns, n, shardVocab, gradScale);
    return loss;
  }

  @Override
  public void close() {
    buffers.close();
  }

  /** Where rank {@code r}'s {@code count} values lie in a gathered buffer of {@code total}. */
  private static long at(Collective group, long total, int r, int count) {
    Collective.Shard s = group.shard(total, r);
    if (s.size() != count) {
      throw new IllegalStateException(
          group.transport() + " shards " + total + " floats unevenly: rank " + r + " gets " + s);
    }
    return s.from();
  }
}
