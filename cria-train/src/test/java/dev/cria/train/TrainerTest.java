package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cria.core.run.RankState;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import dev.cria.core.tensorboard.TensorBoardEvents;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.metrics.StepMetrics;
import dev.cria.train.metrics.TrainListener;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.node.ObjectNode;

class TrainerTest {
  @TempDir Path tmp;
  private Path prefix;

  @BeforeEach
  void data() throws IOException {
    prefix = TestRuns.dataset(tmp, 200, 199);
  }

  /** Collects what the console would show. */
  private static final class Recorder implements TrainListener {
    final List<StepMetrics> steps = new ArrayList<>();
    final List<double[]> validations = new ArrayList<>();
    final List<String> info = new ArrayList<>();

    @Override
    public void info(String line) {
      info.add(line);
    }

    @Override
    public void step(StepMetrics m) {
      steps.add(m);
    }

    @Override
    public void validation(long step, double loss) {
      validations.add(new double[] {step, loss});
    }
  }

  private TrainResult train(TrainConfig c, Recorder r, BooleanSupplier stop) throws IOException {
    try (TrainingSetup setup = TrainingSetup.prepare(c, 1, r::info)) {
      RunDirectory run = RunDirectory.create(c, true);
      return new Trainer(setup, run, r, stop).run(TrainStart.fresh());
    }
  }

  @Test
  void trainsAndWritesTheRunDirectoryAsNemo() throws IOException {
    Path runDir = tmp.resolve("run");
    Recorder r = new Recorder();
    TrainResult result = train(TestRuns.config(TestRuns.tree(prefix, runDir)), r, () -> false);

    assertThat(result.steps()).isEqualTo(30);
    assertThat(result.stopped()).isFalse();
    assertThat(r.steps).hasSize(30);
    double first = r.steps.getFirst().loss();
    assertThat(first).isCloseTo(Math.log(32000), within(0.3));
    assertThat(result.lastLoss()).isLessThan(first - 3);
    assertThat(r.steps.get(29).consumedSamples()).isEqualTo(120);
    assertThat(r.steps.get(0).lr()).isCloseTo(1e-2 / 4, within(1e-12)); // warmup (s+1)/(w+1)
    assertThat(r.steps.get(29).lr())
        .isCloseTo(1e-3 + 9e-3 * 0.5 * (1 + Math.cos(Math.PI * 26 / 27)), within(1e-12));
    assertThat(r.validations).extracting(v -> (long) v[0]).containsExactly(10L, 20L, 30L);
    assertThat(result.lastValidationLoss())
        .isEqualTo(r.validations.getLast()[1])
        .isLessThan(first - 3);

    assertThat(Files.readString(runDir.resolve("config.yaml")))
        .contains("micro_batch_size: 2", "seq_length: 16");
    assertThat(
            TrainConfigFile.bind(
                TrainConfigFile.read(runDir.resolve("config.yaml")), "config.yaml"))
        .isEqualTo(TestRuns.config(TestRuns.tree(prefix, runDir)));
    List<String> log = Files.readAllLines(runDir.resolve("0/log"));
    assertThat(log.stream().filter(l -> l.contains("] step "))).hasSize(30);
    assertThat(log.stream().filter(l -> l.contains("validation step"))).hasSize(3);
    RankStatus status = StatusFiles.read(StatusFiles.file(runDir, 0));
    assertThat(status.state()).isEqualTo(RankState.FINISHED);
    assertThat(status.step()).isEqualTo(30);
    assertThat(status.maxSteps()).isEqualTo(30);
    assertThat(status.loss()).isEqualTo(result.lastLoss());

    TensorBoardEvents.Contents events = TensorBoardEvents.read(result.tensorBoardFile());
    Map<String, List<TensorBoardEvents.Scalar>> byTag =
        events.scalars().stream().collect(Collectors.groupingBy(TensorBoardEvents.Scalar::tag));
    assertThat(byTag.keySet())
        .containsExactlyInAnyOrder(
            "reduced_train_loss",
            "lr",
            "gradient_norm",
            "parameter_norm",
            "global_step",
            "consumed_samples",
            "throughput",
            "throughput_peak",
            "train_step_timing",
            "tokens_per_sec",
            "mfu",
            "val_loss");
    assertThat(byTag.get("reduced_train_loss"))
        .extracting(TensorBoardEvents.Scalar::step)
        .containsExactlyElementsOf(java.util.stream.LongStream.rangeClosed(1, 30).boxed().toList());
    assertThat(byTag.get("reduced_train_loss").get(29).value())
        .isEqualTo((float) result.lastLoss());
    assertThat(byTag.get("consumed_samples").get(29).value()).isEqualTo(120f);
    assertThat(byTag.get("val_loss"))
        .extracting(TensorBoardEvents.Scalar::step)
        .containsExactly(10L, 20L, 30L);
    assertThat(byTag.get("throughput").get(29).value()).isPositive();
  }

  @Test
  void aStopDuringValidationLeavesItUnfinishedAndSavesAtOnce() throws IOException {
    ObjectNode tree = TestRuns.tree(prefix, tmp.resolve("stop-in-validation"));
    TrainConfigFile.set(tree, "trainer.limit_val_batches", 3);
    Recorder r = new Recorder();
    // the request comes once step 10 is done: during its validation (SIGTERM in a pod)
    TrainResult result = train(TestRuns.config(tree), r, () -> r.steps.size() >= 10);

    assertThat(result.stopped()).isTrue();
    assertThat(result.steps()).isEqualTo(10);
    assertThat(r.validations).isEmpty();
    assertThat(r.info).contains("validation at step 10 left unfinished: asked to stop");
    assertThat(result.lastCheckpoint()).isNotNull();
  }

  @Test
  void sameConfigGivesTheSameLossesAndAccumulationMatchesOneBigMicroBatch() throws IOException {
    ObjectNode tree = TestRuns.tree(prefix, tmp.resolve("a"));
    TrainConfigFile.set(tree, "trainer.max_steps", 8L);
    Recorder a = new Recorder();
    train(TestRuns.config(tree), a, () -> false);
    TrainConfigFile.set(tree, "run_dir", tmp.resolve("b").toString());
    Recorder b = new Recorder();
    train(TestRuns.config(tree), b, () -> false);
    assertThat(b.steps)
        .extracting(StepMetrics::loss)
        .containsExactlyElementsOf(a.steps.stream().map(StepMetrics::loss).toList());

    // Recomputing the activations in the backward pass changes the memory, not a bit of the result.
    TrainConfigFile.set(tree, "run_dir", tmp.resolve("r").toString());
    TrainConfigFile.set(tree, "model.recompute", true);
    Recorder r = new Recorder();
    train(TestRuns.config(tree), r, () -> false);
    assertThat(r.steps)
        .extracting(StepMetrics::loss)
        .containsExactlyElementsOf(a.steps.stream().map(StepMetrics::loss).toList());
    assertThat(r.info).anyMatch(l -> l.contains("(each layer's input; the rest recomputed)"));
    TrainConfigFile.set(tree, "model.recompute", false);

    // Global batch 4 as one micro-batch of 4 instead of two of 2: the same mean loss and update.
    TrainConfigFile.set(tree, "run_dir", tmp.resolve("c").toString());
    TrainConfigFile.set(tree, "trainer.micro_batch_size", 4);
    Recorder c = new Recorder();
    train(TestRuns.config(tree), c, () -> false);
    for (int i = 0; i < 8; i++) {
      assertThat(c.steps.get(i).loss())
          .as("step %d", i + 1)
          .isCloseTo(a.steps.get(i).loss(), within(2e-4));
      assertThat(c.steps.get(i).gradientNorm())
          .isCloseTo(a.steps.get(i).gradientNorm(), within(1e-3 * a.steps.get(i).gradientNorm()));
    }
  }

  @Test
  void stopRequestEndsAfterTheCurrentStepWithMetricsFlushed() throws IOException {
    Path runDir = tmp.resolve("stopped");
    Recorder r = new Recorder();
    AtomicLong polls = new AtomicLong();
    TrainResult result =
        train(TestRuns.config(TestRuns.tree(prefix, runDir)), r, () -> polls.incrementAndGet() > 5);
    assertThat(result.stopped()).isTrue();
    assertThat(result.steps()).isEqualTo(5);
    assertThat(r.validations).isEmpty();
    TensorBoardEvents.Contents events = TensorBoardEvents.read(result.tensorBoardFile());
    assertThat(events.scalars().stream().filter(s -> s.tag().equals("reduced_train_loss")))
        .hasSize(5);
    assertThat(Files.readString(runDir.resolve("0/log"))).contains("stopped after step 5 of 30");
    assertThat(StatusFiles.read(StatusFiles.file(runDir, 0)).state()).isEqualTo(RankState.STOPPED);
  }

  @Test
  void mistakesAreReportedBeforeAnyWork() throws IOException {
    Path runDir = tmp.resolve("never");
    ObjectNode missing = TestRuns.tree(tmp.resolve("nope/none"), runDir);
    assertThatThrownBy(() -> TrainingSetup.prepare(TestRuns.config(missing), 1, s -> {}))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("nope/none.idx does not exist");

    ObjectNode tooLong = TestRuns.tree(prefix, runDir);
    TrainConfigFile.set(tooLong, "data.seq_length", 64);
    assertThatThrownBy(() -> TrainingSetup.prepare(TestRuns.config(tooLong), 1, s -> {}))
        .hasMessageContaining(
            "data.seq_length 64 is longer than the model's max_position_embeddings 32");

    ObjectNode indivisible = TestRuns.tree(prefix, runDir);
    TrainConfigFile.set(indivisible, "trainer.global_batch_size", 5);
    assertThatThrownBy(() -> TrainingSetup.prepare(TestRuns.config(indivisible), 1, s -> {}))
        .hasMessageContaining(
            "global_batch_size 5 is not a multiple of micro_batch_size x data-parallel size = 2 x 1");

    Path bigIds = TestRuns.dataset(tmp.resolve("big"), 20, 40_000);
    assertThatThrownBy(
            () -> TrainingSetup.prepare(TestRuns.config(TestRuns.tree(bigIds, runDir)), 1, s -> {}))
        .hasMessageContaining("holds token id 40000 but the model's vocabulary has 32000 entries");

    ObjectNode noTrain = TestRuns.tree(prefix, runDir);
    TrainConfigFile.set(noTrain, "data.split", "0,1,0");
    assertThatThrownBy(() -> TrainingSetup.prepare(TestRuns.config(noTrain), 1, s -> {}))
        .hasMessageContaining("leaves no training documents");
    assertThat(runDir).doesNotExist();
  }

  @Test
  void blendsWeightedDatasetsAsMegatron() throws IOException {
    Path other = TestRuns.dataset(tmp.resolve("other"), 120, 150);
    ObjectNode tree = TestRuns.tree(prefix, tmp.resolve("blend"));
    TrainConfigFile.set(
        tree, "data.data_prefix", List.of("0.3", prefix.toString(), "0.7", other.toString()));
    TrainConfigFile.set(tree, "trainer.max_steps", 6L);
    Recorder r = new Recorder();
    TrainResult result = train(TestRuns.config(tree), r, () -> false);
    assertThat(result.steps()).isEqualTo(6);
    // ceil(24 x 0.3) + ceil(24 x 0.7) = 8 + 17: a blend can hold a sample more than asked, as in
    // Megatron.
    assertThat(r.info)
        .anyMatch(l -> l.startsWith("train: blend of 2 datasets, weights [0.3, 0.7], 25 samples"));
    assertThat(r.info).anyMatch(l -> l.startsWith("valid: blend of 2 datasets"));

    ObjectNode odd = TestRuns.tree(prefix, tmp.resolve("odd"));
    TrainConfigFile.set(odd, "data.data_prefix", List.of("0.3", prefix.toString(), "0.7"));
    assertThatThrownBy(() -> TrainingSetup.prepare(TestRuns.config(odd), 1, s -> {}))
        .hasMessageContaining("give one prefix, or weight and prefix pairs");
  }

  @Test
  void anExistingRunIsKeptUnlessOverwritten() throws IOException {
    Path runDir = tmp.resolve("kept");
    TrainConfig c = TestRuns.config(TestRuns.tree(prefix, runDir));
    RunDirectory.create(c, false);
    assertThatThrownBy(() -> RunDirectory.create(c, false))
        .hasMessageContaining("already holds a run")
        .hasMessageContaining("--overwrite");
    Files.createDirectories(runDir.resolve("0"));
    Files.writeString(runDir.resolve("0/log"), "old");
    Files.createDirectories(runDir.resolve("index_cache"));
    RunDirectory.create(c, true);
    assertThat(runDir.resolve("0/log")).doesNotExist();
    assertThat(runDir.resolve("index_cache")).isDirectory();
  }
}
