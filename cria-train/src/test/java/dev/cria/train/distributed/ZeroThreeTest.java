package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.model.ParameterShards;
import dev.cria.engine.model.Precision;
import dev.cria.engine.tensor.View;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * ZeRO-3 ({@link ShardedParameters}) under a real model, two ranks each on its own micro-batch:
 * each rank's loss is the whole model's on its tokens, bit for bit; the gradient shards hold the
 * sums of both ranks' whole-model gradients; and of the flat parameter buffer only the rank's
 * shards are ever in memory, the buckets being gathered into two buffers of the largest one's size.
 */
class ZeroThreeTest {
  /** d=256, 3 layers, 4,000 tokens: a 14 MB parameter buffer, so pages can be counted. */
  static final LlamaConfig SHAPE = new LlamaConfig(256, 3, 4, 2, 704, 4000, 1e-5f, 10000f, 16);

  static final int BATCH = 2;
  static final int SEQ = 8;

  static int[] tokens(int rank) {
    return new SplittableRandom(11 + rank).ints(BATCH * SEQ, 0, SHAPE.vocabSize()).toArray();
  }

  record Pass(double loss, float[] gradients) {}

  /** One rank holding the whole model: its loss and gradients on {@code rank}'s tokens. */
  static Pass whole(int rank, Precision precision) {
    try (Backend cpu = Backends.open("cpu", 1);
        LlamaModel m = new LlamaModel(SHAPE, cpu, BATCH, SEQ, false, precision)) {
      m.initialize(7);
      m.zeroGradients();
      double loss = m.forward(tokens(rank), tokens(rank + 5), 1f);
      m.backward();
      return new Pass(loss, m.gradients().toArray(0, Math.toIntExact(m.layout().size())));
    }
  }

  /** What a rank saw: its losses, its gradient shards' sums, the most its parameters held. */
  record Seen(
      double[] losses, float[] gradients, long mostResident, long shardBytes, long bucket) {}

  @ParameterizedTest(name = "{0} over {1}")
  @CsvSource({"FP32, SHM", "BF16_MIXED, TCP"})
  void eachRankComputesWithTheWholeModelWhileHoldingItsShardsAndTwoBuckets(
      Precision precision, CollectiveKind kind) throws Exception {
    List<Seen> seen =
        LoopbackRanks.run(
            kind,
            2,
            Duration.ofSeconds(60),
            group -> {
              try (Backend cpu = Backends.open("cpu", 1);
                  LlamaModel m = new LlamaModel(SHAPE, cpu, BATCH, SEQ, false, precision);
                  GradientBuckets buckets =
                      new GradientBuckets(
                          m.layout(),
                          m.gradients(),
                          group,
                          new GradientBuckets.Settings(3, 1L << 30))) {
                m.initialize(7);
                long[] version = {0}; // no update between the passes: gathered buckets reused
                ShardedParameters sharded =
                    new ShardedParameters(buckets, cpu.buffers(), () -> version[0]);
                sharded.shard(m);
                long[] most = {0};
                m.shardParameters( // the same, watched
                    new ParameterShards() {
                      @Override
                      public View acquire(
                          ParameterLayout.Range bucket, ParameterLayout.Range next) {
                        View values = sharded.acquire(bucket, next);
                        most[0] = Math.max(most[0], sharded.residentBytes());
                        return values;
                      }

                      @Override
                      public void release(ParameterLayout.Range bucket) {
                        sharded.release(bucket);
                      }
                    });
                double[] losses = new double[2];
                buckets.zeroGradients();
                for (int pass = 0; pass < 2; pass++) { // the same micro-batch twice: summed
                  losses[pass] = m.forward(tokens(group.rank()), tokens(group.rank() + 5), 1f);
                  m.backward(buckets::reduceWhenReady);
                  buckets.awaitReductions();
                }
                float[] out = new float[Math.toIntExact(m.layout().size())];
                for (ParameterLayout.Range s : buckets.shards()) {
                  for (long i = s.from(); i < s.to(); i++) {
                    out[(int) i] = m.gradients().get(i);
                  }
                }
                long shardBytes =
                    buckets.shards().stream().mapToLong(ParameterLayout.Range::size).sum()
                        * Float.BYTES;
                long bucket =
                    buckets.buckets().stream()
                            .mapToLong(ParameterLayout.Range::size)
                            .max()
                            .orElse(0)
                        * Float.BYTES;
                assertThat(buckets.buckets())
                    .as("a bucket per layer whatever the cap")
                    .isEqualTo(m.layout().buckets());
                assertThat(sharded.bufferBytes()).isEqualTo(2 * bucket);
                // 3 layers: each pass acquires 5 buckets forward, 4 back; the backward pass
                // reuses the head and the last layer, the second forward pass the first layer
                assertThat(sharded.counts()).containsExactly(18, 13);
                version[0]++; // an update: every bucket is gathered again
                m.forward(tokens(group.rank()), tokens(group.rank() + 5), 1f);
                assertThat(sharded.counts()).containsExactly(23, 18);
                sharded.close();
                return new Seen(losses, out, most[0], shardBytes, bucket);
              }
            });
    Pass[] whole = {whole(0, precision), whole(1, precision)};
    for (int r = 0; r < 2; r++) {
      assertThat(seen.get(r).losses())
          .as("rank %d", r)
          .containsExactly(whole[r].loss(), whole[r].loss());
    }
    float[] sums = new float[whole[0].gradients().length];
    for (int r = 0; r < 2; r++) {
      float[] g = seen.get(r).gradients();
      for (int i = 0; i < g.length; i++) {
        sums[i] += g[i]; // each element is one rank's: the other's reads 0
      }
    }
    for (int i = 0; i < sums.length; i++) {
      double expected = 2.0 * ((double) whole[0].gradients()[i] + whole[1].gradients()[i]);
      assertThat((double) sums[i])
          .as("gradient %d", i)
          .isCloseTo(
              expected, org.assertj.core.data.Offset.offset(1e-5 + 1e-5 * Math.abs(expected)));
    }
    if (Pages.releases()) {
      for (Seen s : seen) {
        long pages = 4096L * (3 * (SHAPE.layers() + 2) + 2); // partial pages at shard edges
        assertThat(s.mostResident())
            .as("the flat parameter buffer's bytes in memory while a pass runs: the shards")
            .isLessThanOrEqualTo(s.shardBytes() + pages);
      }
    }
  }

  @ParameterizedTest
  @CsvSource({"1", "2"})
  void stagesThatKeepTheParametersWholeCannotShardThem(int stage) throws Exception {
    LoopbackRanks.run(
        CollectiveKind.SHM,
        2,
        Duration.ofSeconds(30),
        group -> {
          try (Backend cpu = Backends.open("cpu", 1);
              LlamaModel m = new LlamaModel(SHAPE, cpu, BATCH, SEQ, false);
              GradientBuckets buckets =
                  new GradientBuckets(
                      m.layout(), m.gradients(), group, new GradientBuckets.Settings(stage, 0))) {
            assertThatThrownBy(() -> new ShardedParameters(buckets, cpu.buffers(), () -> 0))
                .hasMessage("ZeRO stage " + stage + " keeps the parameters whole");
            return null;
          }
        });
  }
}
