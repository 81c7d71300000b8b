package dev.cria.engine.parallel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Cross-entropy over logits split by vocabulary across a tensor-parallel group, as Megatron-Core's
 * {@code vocab_parallel_cross_entropy}: each rank holds the logits of its slice of the vocabulary
 * ({@code [n, shardVocab]}, columns {@code [vocabStart, vocabStart + shardVocab)} of the whole),
 * and the full logits rows are never gathered. Per row, three numbers cross the group: the largest
 * logit (each rank's, gathered), the sum of {@code exp(logit - max)} and the target's logit (held
 * by one rank, 0 on the others; both summed). Every rank then knows each row's loss, and turns its
 * slice into that slice of the gradient, {@code (softmax - onehot) * gradScale}, as the unsplit
 * kernel ({@code Kernels.crossEntropy}) does for whole rows. Rows whose target is -1 count for
 * nothing and get a zero gradient.
 *
 * <p>Plain loops, sums in double within a slice; the group's sums are of floats in its own order,
 * so the loss equals the unsplit kernel's to float rounding, not bit for bit. What calls it: the LM
 * head of a tensor-parallel {@code LlamaModel}, on the model's tensor-parallel group.
 */
public final class VocabParallelCrossEntropy {
  private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

  private VocabParallelCrossEntropy() {}

  /**
   * Replaces this rank's logits slice at {@code logits[offset ...]} (floats, {@code n} rows of
   * {@code shardVocab}) by its gradient and returns the summed loss of the counted rows (the same
   * on every rank of {@code group}).
   *
   * @param targets each row's target token id in the whole vocabulary, or -1 to skip the row
   * @param vocabStart the first vocabulary column this rank holds
   */
  public static double lossAndGradient(
      Collective group,
      MemorySegment logits,
      long offset,
      int[] targets,
      int n,
      int shardVocab,
      int vocabStart,
      float gradScale) {
    if (targets.length < n || shardVocab < 1 || vocabStart < 0 || n < 0) {
      throw new IllegalArgumentException(
          "n " + n + ", shard vocabulary " + shardVocab + " from " + vocabStart);
    }
    int ranks = group.worldSize();
    try (Arena arena = Arena.ofShared()) {
      // 1. each row's largest logit over the whole vocabulary: every rank's maxima, gathered
      long total = (long) ranks * n;
      MemorySegment maxima = arena.allocate(Math.max(total, 1) * Float.BYTES, 64);
      long mine = at(group, total, group.rank(), n);
      for (int i = 0; i < n; i++) {
        float max = Float.NEGATIVE_INFINITY;
        long row = offset + (long) i * shardVocab;
        for (int c = 0; c < shardVocab; c++) {
          max = Math.max(max, logits.getAtIndex(F, row + c));
        }
        maxima.setAtIndex(F, mine + i, max);
      }
      group.allGather(maxima, total);
      float[] max = new float[n];
      java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
      for (int r = 0; r < ranks; r++) {
        long theirs = at(group, total, r, n);
        for (int i = 0; i < n; i++) {
          max[i] = Math.max(max[i], maxima.getAtIndex(F, theirs + i));
        }
      }

      // 2. the sums of exp(logit - max) and the target logits, summed over the group
      MemorySegment sums = arena.allocate(2L * Math.max(n, 1) * Float.BYTES, 64);
      for (int i = 0; i < n; i++) {
        long row = offset + (long) i * shardVocab;
        double sum = 0;
        for (int c = 0; c < shardVocab; c++) {
          sum += Math.exp(logits.getAtIndex(F, row + c) - max[i]);
        }
        int local = targets[i] - vocabStart;
        boolean here = targets[i] >= 0 && local >= 0 && local < shardVocab;
        sums.setAtIndex(F, i, (float) sum);
        sums.setAtIndex(F, (long) n + i, here ? logits.getAtIndex(F, row + local) : 0f);
      }
      group.allReduceSum(sums, 2L * n);

      // 3. the loss of each counted row, and this slice of its gradient
      double loss = 0;
      for (int i = 0; i < n; i++) {
        long row = offset + (long) i * shardVocab;
        if (targets[i] < 0) {
          for (int c = 0; c < shardVocab; c++) {
            logits.setAtIndex(F, row + c, 0f);
          }
          continue;
        }
        double logSum = Math.log(sums.getAtIndex(F, i)) + max[i];
        loss += logSum - sums.getAtIndex(F, (long) n + i);
        int local = targets[i] - vocabStart;
        for (int c = 0; c < shardVocab; c++) {
          double prob = Math.exp(logits.getAtIndex(F, row + c) - logSum);
          logits.setAtIndex(F, row + c, (float) ((prob - (c == local ? 1 : 0)) * gradScale));
        }
      }
      return loss;
    }
  }

  /** Where rank {@code r}'s {@code n} values lie in a gathered buffer of {@code total}. */
  private static long at(Collective group, long total, int r, int n) {
    Collective.Shard s = group.shard(total, r);
    if (s.size() != n) {
      throw new IllegalStateException(
          group.transport() + " shards " + total + " floats unevenly: rank " + r + " gets " + s);
    }
    return s.from();
  }
}
