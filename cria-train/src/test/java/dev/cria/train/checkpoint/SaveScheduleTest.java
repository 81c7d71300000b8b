package dev.cria.train.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.core.run.RankState;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.LearningRateSchedule;
import dev.cria.engine.parallel.Collective;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.distributed.FakeGroup;
import dev.cria.train.metrics.MetricsSink;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.node.ObjectNode;

/** When a rank saves, what a save holds, and what the run's log hears of it. */
class SaveScheduleTest {
  @TempDir Path tmp;
  Path run;
  Backend cpu;
  LlamaModel model;
  AdamW adam;
  Recorder metrics = new Recorder();
  LearningRateSchedule schedule = LearningRateSchedule.cosineAnnealing(1e-3, 1e-4, 2, 0, 20);

  /** Every event a sink hears, as text. */
  static final class Recorder implements MetricsSink {
    final List<String> events = new ArrayList<>();

    @Override
    public synchronized void info(String line) {
      events.add("info " + line);
    }

    @Override
    public synchronized void note(String line) {
      events.add("note " + line);
    }

    @Override
    public synchronized void state(RankState state) {
      events.add("state " + state);
    }

    @Override
    public synchronized void flush() {
      events.add("flush");
    }

    synchronized List<String> starting(String prefix) {
      return events.stream().filter(e -> e.startsWith(prefix)).toList();
    }
  }

  @BeforeEach
  void setUp() throws IOException {
    run = tmp.resolve("run");
    cpu = Backends.open("cpu", 1);
    TrainConfig c = config(0, 0, 2, false);
    model = new LlamaModel(TestCheckpoints.shape(c), cpu, 1, 8, false);
    model.initialize(5);
    adam = new AdamW(model.layout(), AdamW.Settings.llama(), cpu);
    adam.restoreSteps(6);
  }

  @AfterEach
  void tearDown() {
    adam.close();
    model.close();
    cpu.close();
  }

  private TrainConfig config(long every, double minutes, int keep, boolean async)
      throws IOException {
    ObjectNode t = TestCheckpoints.tree(run, TestCheckpoints.tokenizer(tmp));
    TrainConfigFile.set(t, "checkpoint.save_interval", every);
    TrainConfigFile.set(t, "checkpoint.save_interval_minutes", minutes);
    TrainConfigFile.set(t, "checkpoint.keep_last", keep);
    TrainConfigFile.set(t, "checkpoint.async_save", async);
    TrainConfigFile.set(t, "trainer.seed", 77L);
    TrainConfigFile.set(t, "optim.constant_steps", 0L);
    return TestCheckpoints.config(t);
  }

  private SaveSchedule schedule(TrainConfig c, Collective group, long firstStep)
      throws IOException {
    return new SaveSchedule(run, c, group, model, List.of(adam), metrics, firstStep);
  }

  private float[] parameters() {
    return model.parameters().toArray(0, (int) model.layout().size());
  }

  private static float[] saved(Path dir, LlamaModel like) throws IOException {
    try (var b = Backends.open("cpu", 1);
        var buffers = b.buffers()) {
      var p = buffers.allocate(like.layout().size());
      Checkpoint.open(dir).verify().loadModel(like.layout(), p);
      return p.toArray(0, (int) like.layout().size());
    }
  }

  @Test
  void aStepIsDueEverySaveIntervalStepsAndNeverWithoutOne() throws IOException {
    try (SaveSchedule s = schedule(config(5, 0, 2, false), Collective.single(), 0)) {
      assertThat(s.stepDue(5)).isTrue();
      assertThat(s.stepDue(10)).isTrue();
      assertThat(s.stepDue(11)).isFalse();
      assertThat(s.stepDue(4)).isFalse();
    }
    try (SaveSchedule s = schedule(config(0, 0, 2, false), Collective.single(), 0)) {
      assertThat(s.stepDue(5)).isFalse();
      assertThat(s.stepDue(0)).isFalse();
    }
  }

  @Test
  void theClockIsRankZerosAndAskedOnlyWhenAnIntervalIsSet() throws IOException {
    try (SaveSchedule s = schedule(config(0, 0, 2, false), Collective.single(), 0)) {
      assertThat(s.timeDue()).isFalse();
    }
    try (SaveSchedule s = schedule(config(0, 1e-12, 2, false), Collective.single(), 0)) {
      assertThat(s.timeDue()).isTrue(); // a picosecond-scale interval has passed
    }
    try (SaveSchedule s = schedule(config(0, 1e-12, 2, false), new FakeGroup(1, 2), 0)) {
      assertThat(s.timeDue()).isFalse();
    }
    try (SaveSchedule s = schedule(config(0, 1000, 2, false), Collective.single(), 0)) {
      assertThat(s.timeDue()).isFalse();
    }
  }

  @Test
  void aSaveNowHoldsTheLoopsStateTheConfigAndTheTokenizerAndIsReportedAroundTheSavingState()
      throws IOException {
    TrainConfig c = config(0, 0, 2, false);
    float[] before = parameters();
    try (SaveSchedule s = schedule(c, Collective.single(), 0)) {
      assertThat(s.last()).isNull();
      s.now(6, 24, 1.5, schedule);
      Path dir = Checkpoints.stepDirectory(run, 6);
      assertThat(s.last()).isEqualTo(dir);
      Checkpoint saved = Checkpoint.open(dir).verify();
      TrainingState st = saved.state();
      assertThat(st.step()).isEqualTo(6);
      assertThat(st.consumedSamples()).isEqualTo(24);
      assertThat(st.optimizerSteps()).isEqualTo(6);
      assertThat(st.worldSize()).isEqualTo(1);
      assertThat(st.seed()).isEqualTo(77);
      assertThat(st.lastLr()).isEqualTo(schedule.at(5));
      assertThat(st.lastLoss()).isEqualTo(1.5);
      assertThat(st.schedule())
          .isEqualTo("linear warmup over 2 steps to 0.001, cosine to 1.0E-4 at step 20");
      assertThat(saved.configYaml()).isEqualTo(TrainConfigFile.toYaml(c));
      assertThat(saved.tokenizer()).isEqualTo(dir.resolve("tokenizer.json"));
      assertThat(saved(dir, model)).containsExactly(before);

      assertThat(metrics.events).hasSize(4);
      assertThat(metrics.events.subList(0, 2)).containsExactly("flush", "state SAVING");
      assertThat(metrics.events.get(2))
          .startsWith("info checkpoint saved: " + dir + " (all files ")
          .contains(String.format(Locale.ROOT, " %.0f MB, ", saved.manifest().totalBytes() / 1e6));
      assertThat(metrics.events.get(3)).isEqualTo("state TRAINING");

      s.now(6, 24, 1.5, schedule);
      s.now(5, 20, 1.5, schedule);
      s.periodic(6, 24, 1.5, schedule);
      assertThat(metrics.events).hasSize(4);
    }
  }

  @Test
  void theStepARunStartsFromIsNotSavedAgainAndOldCheckpointsArePrunedWithANote()
      throws IOException {
    try (SaveSchedule s = schedule(config(0, 0, 1, false), Collective.single(), 4)) {
      s.now(4, 16, 1, schedule);
      assertThat(Checkpoints.directory(run)).doesNotExist();
      assertThat(metrics.events).isEmpty();
      s.periodic(5, 20, 1, schedule); // not async: saved before returning
      assertThat(Checkpoints.list(run)).containsExactly(Checkpoints.stepDirectory(run, 5));
      assertThat(metrics.starting("state ")).containsExactly("state SAVING", "state TRAINING");
      s.now(7, 28, 1, schedule);
      assertThat(Checkpoints.list(run)).containsExactly(Checkpoints.stepDirectory(run, 7));
      assertThat(metrics.starting("note "))
          .containsExactly(
              "note removed old checkpoint "
                  + Checkpoints.stepDirectory(run, 5)
                  + " (keep_last 1)");
    }
  }

  @Test
  void asyncPeriodicSavesCopyThenWriteInTheBackgroundAndAreReportedOnceDone() throws Exception {
    long n = model.layout().size();
    try (SaveSchedule s = schedule(config(0, 0, 5, true), Collective.single(), 0)) {
      assertThat(metrics.events)
          .singleElement()
          .asString()
          .startsWith(
              String.format(
                  Locale.ROOT,
                  "info checkpoints are written in the background from a %.0f MB copy"
                      + " (allocated in ",
                  3 * n * 4 / 1e6));
      float[] before = parameters();
      s.periodic(3, 12, 2, schedule);
      model.parameters().set(0, 42f); // training goes on
      assertThat(metrics.events.get(1)).isEqualTo("flush");
      assertThat(metrics.events.get(2))
          .startsWith("info checkpoint of step 3: copied in ")
          .endsWith(" s, being written in the background");
      assertThat(metrics.starting("state ")).isEmpty();
      for (int i = 0; i < 6000 && metrics.starting("info checkpoint saved").isEmpty(); i++) {
        Thread.sleep(10);
        s.poll();
      }
      assertThat(metrics.starting("info checkpoint saved: " + Checkpoints.stepDirectory(run, 3)))
          .hasSize(1);
      assertThat(s.last()).isEqualTo(Checkpoints.stepDirectory(run, 3));
      assertThat(saved(s.last(), model)).containsExactly(before);
      s.poll(); // nothing more to report
      assertThat(metrics.starting("info checkpoint saved")).hasSize(1);

      s.periodic(4, 16, 2, schedule);
    }
    // closing waited for the second and reported it
    assertThat(metrics.starting("info checkpoint saved"))
        .hasSize(2)
        .last()
        .asString()
        .contains(Checkpoints.stepDirectory(run, 4).toString());
    assertThat(Checkpoint.open(Checkpoints.stepDirectory(run, 4)).verify().step()).isEqualTo(4);
  }

  @Test
  void aSaveNowWaitsForTheBackgroundSaveAndReportsItFirst() throws IOException {
    try (SaveSchedule s = schedule(config(0, 0, 5, true), Collective.single(), 0)) {
      s.periodic(3, 12, 2, schedule);
      s.now(4, 16, 2, schedule);
      List<String> saved = metrics.starting("info checkpoint saved");
      assertThat(saved).hasSize(2);
      assertThat(saved.get(0)).contains(Checkpoints.stepDirectory(run, 3).toString());
      assertThat(saved.get(1)).contains(Checkpoints.stepDirectory(run, 4).toString());
      assertThat(s.last()).isEqualTo(Checkpoints.stepDirectory(run, 4));
    }
  }

  @Test
  void anAbandonedBackgroundSaveIsNotReported() throws IOException {
    SaveSchedule s = schedule(config(0, 0, 5, true), Collective.single(), 0);
    s.periodic(3, 12, 2, schedule);
    s.abandon(); // it gets a minute, which this small save does not need
    s.close();
    assertThat(metrics.starting("info checkpoint saved")).isEmpty();
    assertThat(s.last()).isNull();
    assertThat(Files.isDirectory(Checkpoints.stepDirectory(run, 3))).isTrue();
  }
}
