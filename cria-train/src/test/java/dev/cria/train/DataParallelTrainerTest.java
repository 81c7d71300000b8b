package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.distributed.CollectiveKind;
import dev.cria.train.distributed.LoopbackRanks;
import dev.cria.train.distributed.Strangers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import tools.jackson.databind.node.ObjectNode;

/**
 * Data parallelism with ZeRO-1, on each host backend: 2 and 3 ranks (threads of this JVM) with
 * global batch G reproduce one rank that accumulates G, step by step, and end with the same
 * parameters.
 */
class DataParallelTrainerTest {
  private static final int STEPS = 20;
  @TempDir Path tmp;

  /** What one rank saw. */
  private record Run(
      List<Double> losses, List<Double> gradientNorms, float[] parameters, List<String> info) {}

  private List<Run> train(Path prefix, int world, CollectiveKind kind) throws Exception {
    return train(prefix, world, kind, line -> {}, port -> {}, tree -> {});
  }

  private List<Run> train(
      Path prefix,
      int world,
      CollectiveKind kind,
      java.util.function.Consumer<String> log,
      LoopbackRanks.BeforeOthers beforeOthers,
      java.util.function.Consumer<ObjectNode> settings)
      throws Exception {
    return train(prefix, world, kind, log, beforeOthers, settings, r -> null);
  }

  private List<Run> train(
      Path prefix,
      int world,
      CollectiveKind kind,
      java.util.function.Consumer<String> log,
      LoopbackRanks.BeforeOthers beforeOthers,
      java.util.function.Consumer<ObjectNode> settings,
      java.util.function.IntFunction<Path> hostOf)
      throws Exception {
    ObjectNode tree = TestRuns.tree(prefix, tmp.resolve("run-" + world));
    TrainConfigFile.set(tree, "trainer.global_batch_size", 12);
    TrainConfigFile.set(tree, "trainer.max_steps", (long) STEPS);
    TrainConfigFile.set(tree, "trainer.limit_val_batches", 0);
    TrainConfigFile.set(tree, "trainer.threads", 1);
    settings.accept(tree);
    TrainConfig c = TestRuns.config(tree);
    RunDirectory run = RunDirectory.create(c, true);
    return LoopbackRanks.run(
        kind,
        world,
        Duration.ofSeconds(60),
        log,
        beforeOthers,
        hostOf,
        group -> {
          try (TrainingSetup setup = TrainingSetup.prepare(c, world, line -> {})) {
            StepCapture capture = new StepCapture();
            new Trainer(setup, run, capture, () -> false, group).run(TrainStart.fresh());
            return new Run(capture.losses, capture.norms, capture.parameters, capture.info);
          }
        });
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void twoAndThreeRanksReproduceOneRankThatAccumulatesTheGlobalBatch(CollectiveKind kind)
      throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    Run single = train(prefix, 1, kind).getFirst();
    for (int world : new int[] {2, 3}) {
      List<Run> ranks = train(prefix, world, kind);
      for (Run r : ranks) {
        // every rank applies the same update from the same summed gradients
        assertThat(r.parameters()).isEqualTo(ranks.getFirst().parameters());
        assertThat(r.losses()).isEqualTo(ranks.getFirst().losses());
      }
      Run rank0 = ranks.getFirst();
      assertThat(rank0.info())
          .anyMatch(l ->
              l.startsWith("memory per rank:")
                  && l.contains("(ZeRO-1: this rank's 1/" + world + ")"))
          .anyMatch(l -> l.contains("; collectives: " + kind));
      for (int s = 0; s < STEPS; s++) {
        assertThat(rank0.losses().get(s))
            .as("world %d step %d loss", world, s + 1)
            .isCloseTo(single.losses().get(s), org.assertj.core.data.Offset.offset(2e-4));
        assertThat(rank0.gradientNorms().get(s))
            .as("world %d step %d grad norm", world, s + 1)
            .isCloseTo(
                single.gradientNorms().get(s),
                org.assertj.core.data.Offset.offset(2e-3 * single.gradientNorms().get(s)));
      }
      double largest = 0;
      double worst = 0;
      for (int i = 0; i < single.parameters().length; i++) {
        largest = Math.max(largest, Math.abs(single.parameters()[i]));
        worst = Math.max(worst, Math.abs(single.parameters()[i] - rank0.parameters()[i]));
      }
      assertThat(worst / largest)
          .as("world %d: largest parameter difference, relative", world)
          .isLessThan(1e-3);
      String lastLog = Files.readString(tmp.resolve("run-" + world).resolve((world - 1) + "/log"));
      assertThat(lastLog).containsPattern("step 20/20 .* communication_timing \\d+\\.\\d{3}s");
    }
  }

  @Test
  void twoRanksInBf16MixedReproduceOneRankRoundingTheGatheredWeights() throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    java.util.function.Consumer<ObjectNode> bf16 =
        tree -> TrainConfigFile.set(tree, "trainer.precision", "bf16-mixed");
    Run single = train(prefix, 1, CollectiveKind.SHM, line -> {}, port -> {}, bf16).getFirst();
    List<Run> ranks = train(prefix, 2, CollectiveKind.SHM, line -> {}, port -> {}, bf16);
    assertThat(ranks.get(1).parameters()).isEqualTo(ranks.getFirst().parameters());
    assertThat(ranks.get(1).losses()).isEqualTo(ranks.getFirst().losses());
    assertThat(ranks.getFirst().info())
        .anyMatch(l -> l.startsWith("precision bf16-mixed: linear layers multiply bf16 on "))
        .anyMatch(l -> l.startsWith("memory per rank:") && l.contains("bf16 weights"));
    for (int s = 0; s < STEPS; s++) {
      // the master weights agree to fp32 rounding; now and then one rounds to the other bf16
      assertThat(ranks.getFirst().losses().get(s))
          .as("step %d loss", s + 1)
          .isCloseTo(single.losses().get(s), org.assertj.core.data.Offset.offset(2e-3));
    }
  }

  @Test
  void strangersKnockingDuringTheJoinAreLoggedAndChangeNoLoss() throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    List<Run> plain = train(prefix, 2, CollectiveKind.AUTO);
    List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
    List<Strangers> knocked = new ArrayList<>();
    List<Run> knockedAt =
        train(
            prefix,
            2,
            CollectiveKind.AUTO,
            log::add,
            port -> {
              knocked.add(Strangers.knock(port));
              Strangers.awaitRefusals(log); // before rank 1 comes
            },
            tree -> {});
    knocked.getFirst().close();
    assertThat(knockedAt.getFirst().losses()).isEqualTo(plain.getFirst().losses());
    assertThat(knockedAt.getFirst().parameters()).isEqualTo(plain.getFirst().parameters());
    assertThat(log).allMatch(l -> l.startsWith("rank 0: ")).hasSize(3);
  }

  @Test
  void zeroTwoWithJoinedBucketsTrainsAsZeroOneDoesKeepingOnlyTheShardsOfTheGradients()
      throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    Run zero1 = train(prefix, 2, CollectiveKind.AUTO).getFirst();
    List<Run> zero2 =
        train(
            prefix,
            2,
            CollectiveKind.AUTO,
            line -> {},
            port -> {},
            tree -> {
              TrainConfigFile.set(tree, "distributed.zero_stage", 2);
              TrainConfigFile.set(tree, "distributed.bucket_cap_mb", 0.02); // two layers a bucket
            });
    assertThat(zero2.get(1).parameters()).isEqualTo(zero2.getFirst().parameters());
    for (int s = 0; s < STEPS; s++) {
      // three micro-batches per rank: the sums are taken in another order, the same to fp rounding
      assertThat(zero2.getFirst().losses().get(s))
          .as("step %d loss", s + 1)
          .isCloseTo(zero1.losses().get(s), org.assertj.core.data.Offset.offset(1e-5));
    }
    assertThat(zero2.getFirst().info())
        .anyMatch(l -> l.startsWith("memory per rank:") && l.contains("(ZeRO-2: this rank's 1/2)"))
        .anyMatch(l ->
            l.startsWith("gradient buckets: ")
                && l.contains("layers joined up to 0.0 MiB")
                && l.endsWith("reduce-scattered after every micro-batch"))
        .anyMatch(l ->
            l.matches("ZeRO-2: \\d+ MB of the \\d+ MB gradient buffer in memory after step 1 .*"));
    assertThat(zero1.info())
        .anyMatch(
            l -> l.equals("gradient buckets: 4 (one per layer), reduce-scattered once per step"));
  }

  @Test
  void zeroThreeTrainsAsZeroTwoDoesBitForBitKeepingOnlyTheShardsOfTheParameters() throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    List<Run> zero2 =
        train(
            prefix,
            2,
            CollectiveKind.SHM,
            line -> {},
            port -> {},
            tree -> TrainConfigFile.set(tree, "distributed.zero_stage", 2));
    List<Run> zero3 =
        train(
            prefix,
            2,
            CollectiveKind.SHM,
            line -> {},
            port -> {},
            tree -> {
              TrainConfigFile.set(tree, "distributed.zero_stage", 3);
              TrainConfigFile.set(tree, "distributed.bucket_cap_mb", 0.02); // not used: per layer
            });
    // the same reductions of the same gradients, from the same parameters gathered: the same bits
    for (Run r : zero3) {
      assertThat(r.losses()).isEqualTo(zero2.getFirst().losses());
      assertThat(r.gradientNorms()).isEqualTo(zero2.getFirst().gradientNorms());
    }
    // each rank ends holding its shards only: together they are ZeRO-2's parameters
    float[] a = zero3.get(0).parameters();
    float[] b = zero3.get(1).parameters();
    float[] expected = zero2.getFirst().parameters();
    int onlyOne = 0;
    for (int i = 0; i < expected.length; i++) {
      assertThat(a[i] == 0 || b[i] == 0).as("parameter %d held by one rank", i).isTrue();
      assertThat(a[i] + b[i]).as("parameter %d", i).isEqualTo(expected[i]);
      onlyOne += a[i] != 0 ? 1 : 0;
    }
    assertThat(onlyOne).isBetween(expected.length / 2 - 200, expected.length / 2 + 200);
    assertThat(zero3.getFirst().info())
        .anyMatch(l ->
            l.startsWith("memory per rank: parameters ")
                && l.contains("(this rank's shards) and 8 MB to gather two layers into")
                && l.contains("(ZeRO-3: this rank's 1/2)"))
        .anyMatch(l ->
            l.equals(
                "gradient buckets: 4 (one per layer: ZeRO-3 gathers a layer at a time,"
                    + " bucket_cap_mb is not used), reduce-scattered after every micro-batch;"
                    + " the parameters all-gathered a layer at a time as each pass reaches it"))
        .anyMatch(l ->
            l.matches(
                "ZeRO-3: \\d+ MB of the \\d+ MB gradient buffer and \\d+ MB of the parameters'"
                    + " in memory after step 1 .*"));
  }

  @Test
  void fourRanksOnTwoHostsTrainOverSharedMemoryAndRailsAsOneRankDoes() throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    java.util.function.Consumer<ObjectNode> sixteen =
        tree -> TrainConfigFile.set(tree, "trainer.global_batch_size", 16);
    Run single = train(prefix, 1, CollectiveKind.AUTO, line -> {}, port -> {}, sixteen).getFirst();
    List<Run> ranks =
        train(
            prefix,
            4,
            CollectiveKind.AUTO,
            line -> {},
            port -> {},
            sixteen,
            r -> {
              Path host = tmp.resolve("host-" + r / 2); // ranks 0, 1 and 2, 3 share a "host"
              try {
                return Files.createDirectories(host);
              } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
              }
            });
    for (Run r : ranks) {
      assertThat(r.parameters()).isEqualTo(ranks.getFirst().parameters());
    }
    assertThat(ranks.getFirst().info())
        .anyMatch(l ->
            l.contains("; collectives: hierarchical (shm among the 2 ranks of each of 2 hosts"));
    for (int s = 0; s < STEPS; s++) {
      assertThat(ranks.getFirst().losses().get(s))
          .as("step %d loss", s + 1)
          .isCloseTo(single.losses().get(s), org.assertj.core.data.Offset.offset(2e-4));
    }
  }
}
