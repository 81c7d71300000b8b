package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.distributed.CollectiveKind;
import dev.cria.train.distributed.LoopbackRanks;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import tools.jackson.databind.node.ObjectNode;

/**
 * Tensor parallelism in the trainer: two ranks sharing one model (each a slice of every layer)
 * train as one rank holding it whole does, step by step, on each host transport; a checkpoint saved
 * by one layout resumes in the other; layouts that cannot work are refused before anything runs.
 */
class TensorParallelTrainerTest {
  private static final int STEPS = 20;
  @TempDir Path tmp;

  /** What one rank saw. */
  private record Run(List<Double> losses, List<Double> gradientNorms, List<String> info) {}

  private ObjectNode tree(Path prefix, String run, int tensorParallel, long steps) {
    ObjectNode tree = TestRuns.tree(prefix, tmp.resolve(run));
    TrainConfigFile.set(tree, "trainer.global_batch_size", 4);
    TrainConfigFile.set(tree, "trainer.max_steps", steps);
    TrainConfigFile.set(tree, "trainer.limit_val_batches", 0);
    TrainConfigFile.set(tree, "trainer.threads", 1);
    TrainConfigFile.set(tree, "distributed.tensor_parallel", tensorParallel);
    return tree;
  }

  private List<Run> train(
      ObjectNode tree, int world, CollectiveKind kind, TrainStart start, boolean create)
      throws Exception {
    return train(tree, world, kind, start, create, Integer.MAX_VALUE);
  }

  /** As above, stopped (and so saved) once {@code stopAfter} steps are taken. */
  private List<Run> train(
      ObjectNode tree,
      int world,
      CollectiveKind kind,
      TrainStart start,
      boolean create,
      int stopAfter)
      throws Exception {
    TrainConfig c = TestRuns.config(tree);
    RunDirectory run = create ? RunDirectory.create(c, true) : RunDirectory.create(c, false, true);
    return LoopbackRanks.run(
        kind,
        world,
        Duration.ofSeconds(60),
        group -> {
          try (TrainingSetup setup = TrainingSetup.prepare(c, world, line -> {})) {
            StepCapture capture = new StepCapture();
            new Trainer(setup, run, capture, () -> capture.losses.size() >= stopAfter, group)
                .run(start);
            return new Run(capture.losses, capture.norms, capture.info);
          }
        });
  }

  private static void assertSameTraining(Run actual, Run expected, int from, String what) {
    for (int s = 0; s < actual.losses().size(); s++) {
      double loss = expected.losses().get(from + s);
      assertThat(actual.losses().get(s))
          .as("%s: step %d loss", what, from + s + 1)
          .isCloseTo(loss, org.assertj.core.data.Offset.offset(1e-5 * loss));
      double norm = expected.gradientNorms().get(from + s);
      assertThat(actual.gradientNorms().get(s))
          .as("%s: step %d grad norm", what, from + s + 1)
          .isCloseTo(norm, org.assertj.core.data.Offset.offset(1e-4 * norm));
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void twoRanksSharingOneModelTrainAsOneRankHoldingItWhole(CollectiveKind kind) throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    Run whole =
        train(tree(prefix, "whole", 1, STEPS), 1, kind, TrainStart.fresh(), true).getFirst();
    List<Run> split = train(tree(prefix, "split", 2, STEPS), 2, kind, TrainStart.fresh(), true);
    assertThat(split.get(1).losses()).isEqualTo(split.getFirst().losses());
    assertThat(split.get(1).gradientNorms()).isEqualTo(split.getFirst().gradientNorms());
    assertThat(split.getFirst().losses()).hasSize(STEPS);
    assertSameTraining(split.getFirst(), whole, 0, "tp 2 vs tp 1");
    assertThat(split.get(1).info())
        .anyMatch(l -> l.contains("tensor parallelism 2 (dp 1 x tp 2): this rank holds slice 1"));
    // the all-reduces inside the passes are timed, and none is overlapped
    String log = java.nio.file.Files.readString(tmp.resolve("split/1/log"));
    java.util.regex.Matcher timing =
        java.util.regex.Pattern.compile(
                "communication_timing (\\d+\\.\\d{3})s \\(not overlapped (\\d+\\.\\d{3})s\\)")
            .matcher(log);
    double total = 0;
    int lines = 0;
    while (timing.find()) {
      assertThat(timing.group(2)).isEqualTo(timing.group(1));
      total += Double.parseDouble(timing.group(1));
      lines++;
    }
    assertThat(lines).isEqualTo(STEPS);
    assertThat(total).isPositive();
  }

  @Test
  void aCheckpointSavedByOneLayoutResumesInTheOther() throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    CollectiveKind kind = CollectiveKind.SHM;
    Run straight =
        train(tree(prefix, "straight", 1, STEPS), 1, kind, TrainStart.fresh(), true).getFirst();
    // saved by two slices (in the background every 3 steps, and on the stop right after one),
    // resumed whole
    ObjectNode a = tree(prefix, "a", 2, STEPS);
    TrainConfigFile.set(a, "checkpoint.async_save", true);
    TrainConfigFile.set(a, "checkpoint.save_interval", 3L);
    train(a, 2, kind, TrainStart.fresh(), true, STEPS / 2);
    double splitSaved = validLoss(tmp.resolve("a/checkpoints/step-" + STEPS / 2));
    Run wholeAfter =
        train(tree(prefix, "a", 1, STEPS), 1, kind, TrainStart.resumeIfPossible(), false)
            .getFirst();
    assertThat(wholeAfter.losses()).hasSize(STEPS / 2);
    assertThat(wholeAfter.info()).anyMatch(l -> l.contains("resumed from"));
    assertSameTraining(wholeAfter, straight, STEPS / 2, "saved at tp 2, resumed at tp 1");
    // saved whole, resumed by two slices
    train(tree(prefix, "b", 1, STEPS), 1, kind, TrainStart.fresh(), true, STEPS / 2);
    List<Run> splitAfter =
        train(tree(prefix, "b", 2, STEPS), 2, kind, TrainStart.resumeIfPossible(), false);
    assertThat(splitAfter.get(1).losses()).isEqualTo(splitAfter.getFirst().losses());
    assertSameTraining(splitAfter.getFirst(), straight, STEPS / 2, "saved at tp 1, resumed at 2");
    // cria eval reads a checkpoint the split run saved as one a single rank saved
    double wholeSaved = validLoss(tmp.resolve("b/checkpoints/step-" + STEPS / 2));
    assertThat(splitSaved)
        .isCloseTo(wholeSaved, org.assertj.core.data.Offset.offset(1e-5 * wholeSaved));
    assertThat(splitAfter.get(1).info())
        .anyMatch(l -> l.contains("this rank's slice and shards sent to rank 0"));
  }

  @Test
  void theInitialWeightsOfASplitModelAreWrittenWholeAsOneRankWritesThem() throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    Path one = tmp.resolve("init-one.safetensors");
    Path two = tmp.resolve("init-two.safetensors");
    train(
        tree(prefix, "w1", 1, 5),
        1,
        CollectiveKind.SHM,
        new TrainStart(false, null, null, one),
        true);
    // rank 0 gathers and writes a tensor at a time
    train(
        tree(prefix, "w2", 2, 5),
        2,
        CollectiveKind.SHM,
        new TrainStart(false, null, null, two),
        true);
    assertThat(java.nio.file.Files.readAllBytes(two))
        .as("each slice's initialization is the whole model's, bit for bit")
        .isEqualTo(java.nio.file.Files.readAllBytes(one));
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void twoRanksSplittingTheResidualStreamAlongTheTokensTrainAsOneRank(CollectiveKind kind)
      throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    Run whole =
        train(tree(prefix, "whole", 1, STEPS), 1, kind, TrainStart.fresh(), true).getFirst();
    ObjectNode sp = tree(prefix, "sp", 2, STEPS);
    TrainConfigFile.set(sp, "distributed.sequence_parallel", true);
    List<Run> split = train(sp, 2, kind, TrainStart.fresh(), true);
    assertThat(split.get(1).losses()).isEqualTo(split.getFirst().losses());
    assertThat(split.get(1).gradientNorms()).isEqualTo(split.getFirst().gradientNorms());
    assertSameTraining(split.getFirst(), whole, 0, "tp 2 with sp vs tp 1");
    assertThat(split.get(1).info())
        .anyMatch(l -> l.contains("sequence parallelism: it holds 1/2 of the tokens' rows"));
  }

  @ParameterizedTest(name = "ZeRO-{0} over {1}, sequence parallelism {2}")
  @CsvSource({"1, SHM, false", "2, TCP, true", "3, SHM, true"})
  void twoReplicasOfTwoSlicesTrainAsOneRankHoldingTheModelWhole(
      int zero, CollectiveKind kind, boolean sequenceParallel) throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    Run whole =
        train(tree(prefix, "whole", 1, STEPS), 1, kind, TrainStart.fresh(), true).getFirst();
    ObjectNode four = tree(prefix, "four", 2, STEPS);
    TrainConfigFile.set(four, "distributed.zero_stage", zero);
    TrainConfigFile.set(four, "distributed.sequence_parallel", sequenceParallel);
    List<Run> ranks = train(four, 4, kind, TrainStart.fresh(), true);
    for (int r = 1; r < 4; r++) {
      assertThat(ranks.get(r).losses()).as("rank %d", r).isEqualTo(ranks.getFirst().losses());
      assertThat(ranks.get(r).gradientNorms())
          .as("rank %d", r)
          .isEqualTo(ranks.getFirst().gradientNorms());
    }
    assertThat(ranks.getFirst().losses()).hasSize(STEPS);
    assertSameTraining(ranks.getFirst(), whole, 0, "dp 2 x tp 2 vs one rank");
    String transport = kind == CollectiveKind.TCP ? "tcp (a ring of 2 ranks)" : "shm";
    assertThat(ranks.get(3).info())
        .anyMatch(l ->
            l.contains(
                    "tensor parallelism 2 (dp 2 x tp 2): this rank holds slice 1 of every layer"
                        + " in replica 1; its tensor-parallel group over "
                        + transport)
                && l.contains("its data-parallel group over " + transport));
    // each rank's status file says where it stands (cria top's DP.TP column)
    assertThat(
            dev.cria.core.run.StatusFiles.read(
                    tmp.resolve("four/3/" + dev.cria.core.run.RankStatus.FILE))
                .parallel())
        .isEqualTo(new dev.cria.core.run.RankStatus.Parallel(1, 2, 1, 2));
    // ZeRO shards a slice's moments over the replicas, not over the job's ranks
    assertThat(ranks.get(3).info())
        .anyMatch(l -> l.contains("(ZeRO-" + zero + ": this rank's 1/2)"));
  }

  @Test
  void aCheckpointOfTwoReplicasOfTwoSlicesResumesAsTwoReplicasWholeAndBack() throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    CollectiveKind kind = CollectiveKind.SHM;
    Run straight =
        train(tree(prefix, "straight", 1, STEPS), 1, kind, TrainStart.fresh(), true).getFirst();
    // saved by dp 2 x tp 2 with ZeRO-1 (each replica's ranks hold half of its slice's moments),
    // resumed by dp 2 x tp 1
    train(tree(prefix, "a", 2, STEPS), 4, kind, TrainStart.fresh(), true, STEPS / 2);
    List<Run> data =
        train(tree(prefix, "a", 1, STEPS), 2, kind, TrainStart.resumeIfPossible(), false);
    assertSameTraining(data.getFirst(), straight, STEPS / 2, "saved at dp 2 x tp 2, resumed dp 2");
    // saved by dp 2 x tp 1, resumed by dp 2 x tp 2
    train(tree(prefix, "b", 1, STEPS), 2, kind, TrainStart.fresh(), true, STEPS / 2);
    List<Run> both =
        train(tree(prefix, "b", 2, STEPS), 4, kind, TrainStart.resumeIfPossible(), false);
    assertThat(both.get(2).losses()).isEqualTo(both.getFirst().losses());
    assertSameTraining(both.getFirst(), straight, STEPS / 2, "saved at dp 2, resumed dp 2 x tp 2");
    assertThat(both.get(3).info())
        .anyMatch(l -> l.contains("this rank's slice and shards sent to rank 0"));
  }

  @Test
  void aZeroThreeCheckpointResumesOnOneRankAndOneRanksUnderZeroThree() throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    CollectiveKind kind = CollectiveKind.SHM;
    Run straight =
        train(tree(prefix, "straight", 1, STEPS), 1, kind, TrainStart.fresh(), true).getFirst();
    // saved by two ZeRO-3 replicas (each holding half of each layer's parameters), resumed whole
    ObjectNode a = tree(prefix, "a", 1, STEPS);
    TrainConfigFile.set(a, "distributed.zero_stage", 3);
    TrainConfigFile.set(a, "checkpoint.async_save", true); // foreground: said so
    List<Run> saving = train(a, 2, kind, TrainStart.fresh(), true, STEPS / 2);
    assertSameTraining(saving.getFirst(), straight, 0, "ZeRO-3 over 2 vs one rank");
    assertThat(saving.getFirst().info())
        .anyMatch(l -> l.startsWith("checkpoint.async_save: a tensor-parallel or ZeRO-3 run"));
    List<Run> one =
        train(tree(prefix, "a", 1, STEPS), 1, kind, TrainStart.resumeIfPossible(), false);
    assertSameTraining(one.getFirst(), straight, STEPS / 2, "saved under ZeRO-3, resumed whole");
    // saved by one rank, resumed by two ZeRO-3 replicas
    train(tree(prefix, "b", 1, STEPS), 1, kind, TrainStart.fresh(), true, STEPS / 2);
    ObjectNode b = tree(prefix, "b", 1, STEPS);
    TrainConfigFile.set(b, "distributed.zero_stage", 3);
    List<Run> two = train(b, 2, kind, TrainStart.resumeIfPossible(), false);
    assertThat(two.get(1).losses()).isEqualTo(two.getFirst().losses());
    assertSameTraining(two.getFirst(), straight, STEPS / 2, "saved whole, resumed under ZeRO-3");
  }

  /**
   * bf16-sr keeps AdamW's moments in bf16; a tensor-parallel checkpoint gathers them widened to
   * whole tensors on rank 0 and a resume cuts each rank's slice out and stores it in bf16 again, so
   * the resumed run repeats the straight one bit for bit.
   */
  @Test
  void aBf16SrRunOfTwoSlicesResumesToItsOwnLossesBitForBit() throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    CollectiveKind kind = CollectiveKind.SHM;
    int steps = 12;
    java.util.function.Function<String, ObjectNode> bf16Sr =
        run -> {
          ObjectNode t = tree(prefix, run, 2, steps);
          TrainConfigFile.set(t, "trainer.precision", "bf16-sr");
          return t;
        };
    List<Run> straight = train(bf16Sr.apply("straight"), 2, kind, TrainStart.fresh(), true);
    assertThat(straight.getFirst().info())
        .anyMatch(l -> l.startsWith("memory per rank:") && l.contains(" MB (bf16),"));
    train(bf16Sr.apply("a"), 2, kind, TrainStart.fresh(), true, steps / 2);
    List<Run> resumed = train(bf16Sr.apply("a"), 2, kind, TrainStart.resumeIfPossible(), false);
    assertThat(resumed.getFirst().info()).anyMatch(l -> l.contains("resumed from"));
    assertThat(resumed.getFirst().losses())
        .isEqualTo(straight.getFirst().losses().subList(steps / 2, steps));
    assertThat(resumed.getFirst().gradientNorms())
        .isEqualTo(straight.getFirst().gradientNorms().subList(steps / 2, steps));
  }

  @Test
  void layoutsThatCannotWorkAreRefusedWithTheNumbers() throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    Consumer<ObjectNode> none = t -> {};
    assertThatThrownBy(() -> prepare(tree(prefix, "r", 2, 5), 3, none))
        .hasMessageContaining("tensor parallelism 2 does not divide the world size 3");
    assertThatThrownBy(() ->
            prepare(
                tree(prefix, "r", 2, 5),
                2,
                t -> {
                  TrainConfigFile.set(t, "distributed.sequence_parallel", true);
                  TrainConfigFile.set(t, "data.seq_length", 7);
                  TrainConfigFile.set(t, "trainer.micro_batch_size", 1);
                }))
        .hasMessageContaining(
            "distributed.sequence_parallel: the tensor-parallel size 2 does not divide the"
                + " micro-batch's 7 tokens (micro_batch_size 1 x seq_length 7)");
    assertThatThrownBy(() -> prepare(tree(prefix, "r", 4, 5), 4, none))
        .hasMessageContaining("tensor parallelism 4 does not divide the model's 2 attention heads");
  }

  private static double validLoss(Path checkpoint) throws Exception {
    try (dev.cria.train.checkpoint.TrainedModel model =
        dev.cria.train.checkpoint.TrainedModel.load(checkpoint, line -> {})) {
      return Evaluation.run(
              model,
              model.config(),
              dev.cria.data.gpt.Split.VALID,
              1,
              null,
              1,
              line -> {},
              done -> {})
          .loss();
    }
  }

  private static void prepare(ObjectNode tree, int world, Consumer<ObjectNode> change)
      throws Exception {
    change.accept(tree);
    TrainingSetup.prepare(TestRuns.config(tree), world, line -> {}).close();
  }
}
