package dev.cria.engine.parallel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Vocab-parallel cross-entropy against the unsplit kernel (the reference's {@code crossEntropy},
 * itself checked against PyTorch): on 1, 2, 3 and 4 ranks of a group of threads, the vocabulary
 * split as Megatron splits it (3 does not divide it), the loss on every rank is the whole rows'
 * loss, and the slices of the gradient put together are the whole gradient, to float rounding.
 * Targets fall in every slice, and a row with target -1 counts for nothing; on both kernel sets.
 */
class VocabParallelCrossEntropyTest {
  private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

  @ParameterizedTest(name = "{0} rank(s), {1} kernels")
  @CsvSource({"1, cpu", "2, cpu", "3, cpu", "4, cpu", "2, reference", "3, reference"})
  void theSlicesGiveTheWholeRowsLossAndGradient(int ranks, String kernels) throws Exception {
    int n = 9;
    int vocab = 50;
    float gradScale = 1f / 8;
    SplittableRandom random = new SplittableRandom(ranks);
    float[] logits = new float[n * vocab];
    for (int i = 0; i < logits.length; i++) {
      logits[i] = (float) (3 * random.nextGaussian());
    }
    int[] targets = new int[n];
    for (int i = 0; i < n; i++) {
      targets[i] = i == 4 ? -1 : (i * 11 + 3) % vocab; // spread over every slice
    }

    double wholeLoss;
    float[] wholeGradient;
    try (Arena arena = Arena.ofConfined();
        Backend reference = Backends.open("reference", 1)) {
      Floats whole = Floats.allocate(arena, logits.length);
      MemorySegment.copy(logits, 0, whole.segment(), F, 0, logits.length);
      wholeLoss =
          reference.kernels().crossEntropy(View.of(whole, 0), ids(targets), n, vocab, gradScale);
      wholeGradient = whole.toArray(0, logits.length);
    }

    List<Object[]> results =
        ThreadRanks.run(
            ranks,
            group -> {
              int from = (int) Collective.shardStart(vocab, ranks, group.rank());
              int to = (int) Collective.shardStart(vocab, ranks, group.rank() + 1);
              int shard = to - from;
              try (Arena arena = Arena.ofConfined();
                  Backend backend = Backends.open(kernels, 1);
                  VocabParallelCrossEntropy loss =
                      new VocabParallelCrossEntropy(group, backend, n)) {
                MemorySegment slice = arena.allocate((3L + (long) n * shard) * Float.BYTES, 64);
                for (int i = 0; i < n; i++) { // at an offset of 3 floats, to honour it
                  MemorySegment.copy(
                      logits, i * vocab + from, slice, F, (3L + (long) i * shard) * 4, shard);
                }
                double sum =
                    loss.lossAndGradient(View.f32(slice, 3), targets, shard, from, gradScale);
                float[] grad = new float[n * shard];
                MemorySegment.copy(slice, F, 3L * Float.BYTES, grad, 0, grad.length);
                return new Object[] {sum, grad, from, shard};
              }
            });

    for (Object[] r : results) {
      double loss = (double) r[0];
      float[] grad = (float[]) r[1];
      int from = (int) r[2];
      int shard = (int) r[3];
      assertThat(loss).isCloseTo(wholeLoss, within(1e-5 * Math.abs(wholeLoss)));
      for (int i = 0; i < n; i++) {
        for (int c = 0; c < shard; c++) {
          assertThat(grad[i * shard + c])
              .as("row %d, column %d", i, from + c)
              .isCloseTo(wholeGradient[i * vocab + from + c], within(1e-6f));
        }
      }
    }
    // every rank returned the same loss, bit for bit (the group's sums are the same everywhere)
    assertThat(results.stream().map(r -> (double) r[0]).distinct()).hasSize(1);
  }

  /** {@code values} as an i32 view (a heap segment: the host kernels read it as any other). */
  static View ids(int... values) {
    return View.i32(MemorySegment.ofArray(values), 0);
  }
}
