package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * ZeRO-2 and bucket sizes in {@link GradientBuckets}, driven as the trainer drives them: every
 * micro-batch adds its gradients bucket by bucket (in the backward's order) and announces each;
 * each rank ends with the sums of its shards over ranks and micro-batches, and keeps little more
 * than its shards in memory.
 */
class ZeroTwoTest {
  /** d=256, 2 layers, 4,000 tokens: a 12 MB gradient buffer, so pages can be counted. */
  static final LlamaConfig SHAPE = new LlamaConfig(256, 2, 4, 2, 704, 4000, 1e-5f, 10000f, 16);

  static final int MICRO = 3;

  @Test
  void aBucketCapJoinsConsecutiveLayersWithoutSplittingOne() {
    ParameterLayout layout = new ParameterLayout(SHAPE);
    List<ParameterLayout.Range> layers = layout.buckets(); // head, layer 1, layer 0, embeddings
    assertThat(GradientBuckets.joined(layers, 0)).isEqualTo(layers);
    long layer = layers.get(1).size();
    // the head is larger than the cap: alone; the two layers together; the embeddings alone
    List<ParameterLayout.Range> joined = GradientBuckets.joined(layers, layer + 1);
    assertThat(joined)
        .containsExactly(
            layers.get(0),
            new ParameterLayout.Range(layers.get(2).from(), layers.get(1).to()),
            layers.get(3));
    assertThat(GradientBuckets.joined(layers, Long.MAX_VALUE))
        .containsExactly(new ParameterLayout.Range(0, layout.size()));
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void eachRankKeepsOnlyItsShardsWhichHoldTheSumsOverRanksAndMicroBatches(CollectiveKind kind)
      throws Exception {
    ParameterLayout layout = new ParameterLayout(SHAPE);
    int n = Math.toIntExact(layout.size());
    int world = 2;
    List<float[]> shardsByRank =
        LoopbackRanks.run(
            kind,
            world,
            Duration.ofSeconds(60),
            group -> {
              try (Backend cpu = Backends.open("cpu", 1);
                  Buffers b = cpu.buffers()) {
                Floats g = b.allocate(n);
                long cap = 3L * layout.buckets().get(1).size() / 2 * Float.BYTES;
                try (GradientBuckets buckets =
                    new GradientBuckets(layout, g, group, new GradientBuckets.Settings(2, cap))) {
                  float[] out = new float[n];
                  for (int step = 0; step < 2; step++) {
                    buckets.zeroGradients();
                    for (int m = 0; m < MICRO; m++) {
                      if (m > 0) {
                        buckets.awaitReductions();
                      }
                      for (ParameterLayout.Range r : layout.buckets()) {
                        for (long i = r.from(); i < r.to(); i++) {
                          g.set(i, g.get(i) + value(step, group.rank(), m, i));
                        }
                        buckets.reduceWhenReady(r.from(), r.to());
                      }
                    }
                    buckets.awaitReductions();
                    long shardBytes =
                        buckets.shards().stream().mapToLong(ParameterLayout.Range::size).sum()
                            * Float.BYTES;
                    if (Pages.releases()) {
                      assertThat(buckets.residentGradientBytes())
                          .as("rank %d: gradient bytes in memory", group.rank())
                          .isLessThanOrEqualTo(
                              shardBytes + 4096L * (2 * buckets.buckets().size() + 2))
                          .isLessThan((long) n * Float.BYTES * 6 / 10);
                    }
                  }
                  for (ParameterLayout.Range s : buckets.shards()) {
                    for (long i = s.from(); i < s.to(); i++) {
                      out[(int) i] = g.get(i);
                    }
                  }
                  return out;
                }
              }
            });
    for (int i = 0; i < n; i += 7) {
      double expected = 0;
      for (int r = 0; r < world; r++) {
        for (int m = 0; m < MICRO; m++) {
          expected += value(1, r, m, i);
        }
      }
      float got = shardsByRank.get(0)[i] != 0 ? shardsByRank.get(0)[i] : shardsByRank.get(1)[i];
      assertThat((double) got).as("parameter %d", i).isCloseTo(expected, within(1e-5));
    }
  }

  private static org.assertj.core.data.Offset<Double> within(double d) {
    return org.assertj.core.data.Offset.offset(d);
  }

  /** A micro-batch's gradient of one parameter on one rank, never zero. */
  private static float value(int step, int rank, int micro, long i) {
    return 0.25f + new SplittableRandom(i * 31 + rank * 7 + micro * 3 + step * 101L).nextFloat();
  }
}
