package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.tensor.Floats;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * GradientBuckets and ShardedAdamW together, as the trainer uses them: two ranks with different
 * gradients reduce-scatter every bucket, update their own shards and all-gather the parameters;
 * both end with the parameters that one process gets from the summed gradients.
 */
class ZeroOneTest {
  static final LlamaConfig SHAPE = new LlamaConfig(32, 3, 4, 2, 64, 50, 1e-5f, 10000f, 16);
  static final AdamW.Settings SETTINGS = AdamW.Settings.llama();

  @Test
  void bucketsFollowTheLayoutAndTheShardsCoverEachBucketOnce() throws Exception {
    ParameterLayout layout = new ParameterLayout(SHAPE);
    List<List<ParameterLayout.Range>> shards =
        LoopbackRanks.run(
            3,
            Duration.ofSeconds(30),
            group -> {
              try (Backend cpu = Backends.open("cpu", 1);
                  Buffers b = cpu.buffers();
                  GradientBuckets buckets =
                      new GradientBuckets(layout, b.allocate(layout.size()), group)) {
                assertThat(buckets.buckets()).isEqualTo(layout.buckets());
                return buckets.shards();
              }
            });
    for (int i = 0; i < layout.buckets().size(); i++) {
      ParameterLayout.Range bucket = layout.buckets().get(i);
      assertThat(shards.get(0).get(i).from()).isEqualTo(bucket.from());
      assertThat(shards.get(0).get(i).to()).isEqualTo(shards.get(1).get(i).from());
      assertThat(shards.get(1).get(i).to()).isEqualTo(shards.get(2).get(i).from());
      assertThat(shards.get(2).get(i).to()).isEqualTo(bucket.to());
    }
    assertThat(layout.buckets()).hasSize(SHAPE.layers() + 2);
    assertThat(layout.buckets().getFirst().to()).isEqualTo(layout.size());
    assertThat(layout.buckets().getLast().from()).isZero();
  }

  @Test
  void twoRanksWithShardedAdamWGetTheParametersOfOneProcessOnTheSummedGradients() throws Exception {
    ParameterLayout layout = new ParameterLayout(SHAPE);
    int n = Math.toIntExact(layout.size());
    float[] start = random(n, 1, 0.02f);
    float[][] grads = {random(n, 2, 1f), random(n, 3, 1f)};
    double clip = 1.0; // the summed gradients' norm is far above it, so clipping scales them
    float[] expected;
    double expectedNorm;
    try (Backend cpu = Backends.open("cpu", 1);
        Buffers b = cpu.buffers();
        ShardedAdamW whole = ShardedAdamW.whole(layout, SETTINGS, cpu)) {
      Floats p = b.allocate(n);
      Floats g = b.allocate(n);
      p.copyFrom(start, 0);
      for (int i = 0; i < n; i++) {
        g.set(i, grads[0][i] + grads[1][i]);
      }
      expectedNorm = whole.clipAndStep(p, g, 1e-3, clip, v -> v);
      expected = p.toArray(0, n);
    }
    List<float[]> results =
        LoopbackRanks.run(
            2,
            Duration.ofSeconds(30),
            group -> {
              try (Backend cpu = Backends.open("cpu", 1);
                  Buffers b = cpu.buffers()) {
                Floats p = b.allocate(n);
                Floats g = b.allocate(n);
                p.copyFrom(start, 0);
                g.copyFrom(grads[group.rank()], 0);
                RankValues values = new RankValues(group);
                try (GradientBuckets buckets = new GradientBuckets(layout, g, group);
                    ShardedAdamW adam =
                        ShardedAdamW.over(layout, SETTINGS, cpu, buckets.shards())) {
                  for (ParameterLayout.Range r : layout.buckets()) {
                    buckets.reduceWhenReady(r.from(), r.to());
                  }
                  buckets.awaitReductions();
                  double norm = adam.clipAndStep(p, g, 1e-3, clip, values::sum);
                  assertThat(norm)
                      .isCloseTo(
                          expectedNorm, org.assertj.core.data.Percentage.withPercentage(1e-4));
                  assertThat(adam.stateBytes()).isLessThan(2L * n * Float.BYTES);
                  buckets.gatherWhileForwarding(p);
                  // a forward pass would wait bucket by bucket; the first bucket alone first
                  ParameterLayout.Range head = layout.buckets().getFirst();
                  buckets.awaitParameters(head.from(), head.to());
                  buckets.awaitGathers();
                  return p.toArray(0, n);
                }
              }
            });
    assertThat(results.get(0)).containsExactly(results.get(1));
    for (int i = 0; i < n; i++) {
      assertThat(results.get(0)[i])
          .as("parameter %d", i)
          .isCloseTo(expected[i], org.assertj.core.data.Offset.offset(1e-6f));
    }
  }

  @Test
  void rankValuesAreTheValuesThemselvesForOneRankAndAgreedSumsForSeveral() throws Exception {
    List<double[]> r =
        LoopbackRanks.run(
            3,
            Duration.ofSeconds(30),
            group -> {
              RankValues v = new RankValues(group);
              boolean[] any = v.any(group.rank() == 1, false);
              return new double[] {
                v.sum(group.rank() + 0.5), v.mean(group.rank()), any[0] ? 1 : 0, any[1] ? 1 : 0
              };
            });
    for (double[] x : r) {
      assertThat(x).containsExactly(4.5, 1.0, 1.0, 0.0);
    }
    RankValues single = new RankValues(Collective.single());
    assertThat(single.sum(0.1)).isEqualTo(0.1); // not rounded to float
    assertThat(single.any(true, false)).containsExactly(true, false);
  }

  private static float[] random(int n, long seed, float scale) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (r.nextGaussian() * scale);
    }
    return v;
  }
}
