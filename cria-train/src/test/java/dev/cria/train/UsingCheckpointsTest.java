package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.data.gpt.Split;
import dev.cria.engine.io.HfConfig;
import dev.cria.engine.io.HfModelFiles;
import dev.cria.engine.io.SafetensorsFile;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.train.checkpoint.Checkpoints;
import dev.cria.train.checkpoint.HfExport;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.checkpoint.TrainedModel;
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
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.node.ObjectNode;

/**
 * A finished run's checkpoint used: evaluated (repeating the run's val_loss), exported and
 * re-imported.
 */
class UsingCheckpointsTest {
  @TempDir Path tmp;
  private TrainConfig config;
  private final List<Double> validations = new ArrayList<>();

  @BeforeEach
  void train() throws IOException {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    ObjectNode t = TestRuns.tree(prefix, tmp.resolve("run"));
    TrainConfigFile.set(t, "data.split", "80,10,10");
    TrainConfigFile.set(t, "trainer.max_steps", 10L);
    TrainConfigFile.set(t, "trainer.val_check_interval", 5L);
    config = TestRuns.config(t);
    try (TrainingSetup setup = TrainingSetup.prepare(config, 1, line -> {})) {
      new Trainer(
              setup,
              RunDirectory.create(config, false),
              new TrainListener() {
                @Override
                public void info(String line) {}

                @Override
                public void step(StepMetrics metrics) {}

                @Override
                public void validation(long step, double loss) {
                  validations.add(loss);
                }
              },
              () -> false)
          .run(TrainStart.fresh());
    }
  }

  @Test
  void evaluatingTheLastCheckpointOnTheValidSplitRepeatsTheRunsValLossExactly() throws IOException {
    try (TrainedModel model = TrainedModel.load(tmp.resolve("run"), line -> {})) {
      assertThat(model.checkpoint().step()).isEqualTo(10);
      List<Integer> done = new java.util.ArrayList<>();
      List<String> lines = new java.util.ArrayList<>();
      Evaluation.Result valid =
          Evaluation.run(model, model.config(), Split.VALID, 2, null, 2, lines::add, done::add);
      assertThat(valid.loss()).isEqualTo(validations.getLast());
      assertThat(done).containsExactly(1, 2);
      assertThat(lines)
          .anyMatch(l -> l.startsWith("valid: documents ") && l.contains("epoch(s)"))
          .noneMatch(l -> l.startsWith("train:")); // its indices are not built to evaluate
      assertThat(valid.tokens()).isEqualTo(2 * 4 * 16);
      Evaluation.Result test =
          Evaluation.run(model, model.config(), Split.TEST, 1, "reference", 2, line -> {}, b -> {});
      // the plain reference kernels and the optimized ones agree on the test split to fp32
      // rounding, and the test split is not the valid one
      Evaluation.Result testOnCpu =
          Evaluation.run(model, model.config(), Split.TEST, 1, "cpu", 2, line -> {}, b -> {});
      assertThat(test.loss())
          .isCloseTo(testOnCpu.loss(), org.assertj.core.data.Offset.offset(1e-5))
          .isNotEqualTo(valid.loss());
      assertThat(test.tokens()).isEqualTo(testOnCpu.tokens()).isEqualTo(4 * 16);
    }
    try (TrainedModel earlier =
        TrainedModel.load(Checkpoints.stepDirectory(tmp.resolve("run"), 10), line -> {})) {
      ObjectNode t = TrainConfigFile.toTree(earlier.config());
      TrainConfigFile.set(t, "data.split", "100,0,0");
      assertThatThrownBy(() ->
              Evaluation.run(
                  earlier,
                  TrainConfigFile.bind(t, "test"),
                  Split.VALID,
                  1,
                  null,
                  1,
                  l -> {},
                  done -> {}))
          .isInstanceOf(ConfigException.class)
          .hasMessageContaining("leaves no valid documents");
    }
  }

  /** The model's files and config.json in {@code dir}, as {@code cria export} writes them. */
  private static void export(TrainedModel model, Path dir, SafetensorsWriter.Dtype dtype)
      throws IOException {
    HfModelFiles.write(dir, model.layout(), model.parameters(), dtype, 50_000, Map.of());
    Files.writeString(dir.resolve("config.json"), HfConfig.configJson(model.shape(), 1, 2, dtype));
  }

  @Test
  void anExportedModelStartsAnotherRunFromTheSameWeights() throws IOException {
    Path hf = tmp.resolve("hf");
    try (TrainedModel model = TrainedModel.load(tmp.resolve("run"), line -> {})) {
      export(model, hf, SafetensorsWriter.Dtype.F32);

      ObjectNode t = TrainConfigFile.toTree(config);
      TrainConfigFile.set(t, "run_dir", tmp.resolve("continued").toString());
      TrainConfig continued = TrainConfigFile.bind(t, "test");
      Path initial = tmp.resolve("initial.safetensors");
      try (TrainingSetup setup = TrainingSetup.prepare(continued, 1, line -> {})) {
        new Trainer(
                setup, RunDirectory.create(continued, false), TrainListener.silent(), () -> true)
            .run(new TrainStart(false, null, hf, initial));
      }
      try (SafetensorsFile f = SafetensorsFile.open(initial)) {
        for (ParameterLayout.Tensor tensor : model.layout().tensors()) {
          assertThat(f.readFloats(tensor.name()))
              .isEqualTo(
                  model.parameters().toArray(tensor.offset(), Math.toIntExact(tensor.size())));
        }
      }

      TrainConfigFile.set(t, "run_dir", tmp.resolve("wider").toString());
      TrainConfigFile.set(t, "model.hidden_size", 48);
      TrainConfig wider = TrainConfigFile.bind(t, "test");
      try (TrainingSetup setup = TrainingSetup.prepare(wider, 1, line -> {})) {
        assertThatThrownBy(() ->
                new Trainer(
                        setup,
                        RunDirectory.create(wider, false),
                        TrainListener.silent(),
                        () -> true)
                    .run(new TrainStart(false, null, hf, null)))
            .isInstanceOf(ConfigException.class)
            .hasMessageContaining("hidden_size 48 (here) vs 32");
      }
    }
  }

  @Test
  void aBf16ExportStartsABf16MixedRunFromItsWeightsRoundedOnce() throws IOException {
    Path hf = tmp.resolve("hf-bf16");
    try (TrainedModel model = TrainedModel.load(tmp.resolve("run"), line -> {})) {
      export(model, hf, SafetensorsWriter.Dtype.BF16);
      ObjectNode t = TrainConfigFile.toTree(config);
      TrainConfigFile.set(t, "run_dir", tmp.resolve("bf16-continued").toString());
      TrainConfigFile.set(t, "trainer.precision", "bf16-mixed");
      TrainConfig continued = TrainConfigFile.bind(t, "test");
      Path initial = tmp.resolve("initial-bf16.safetensors");
      try (TrainingSetup setup = TrainingSetup.prepare(continued, 1, line -> {})) {
        new Trainer(
                setup, RunDirectory.create(continued, false), TrainListener.silent(), () -> true)
            .run(new TrainStart(false, null, hf, initial));
      }
      // the run's fp32 master weights are the trained ones rounded to bf16 once, widened exactly
      try (SafetensorsFile f = SafetensorsFile.open(initial)) {
        for (ParameterLayout.Tensor tensor : model.layout().tensors()) {
          float[] trained =
              model.parameters().toArray(tensor.offset(), Math.toIntExact(tensor.size()));
          float[] rounded = new float[trained.length];
          for (int i = 0; i < trained.length; i++) {
            rounded[i] = dev.cria.engine.tensor.Bf16.roundTrip(trained[i]);
          }
          assertThat(f.readFloats(tensor.name())).as(tensor.name()).isEqualTo(rounded);
        }
      }
    }
  }

  @Test
  void exportOverwritesOnlyAnEarlierExportAndGivesTheSameBytesTwice() throws IOException {
    Path out = tmp.resolve("hf");
    HfExport.Request request =
        new HfExport.Request(tmp.resolve("run"), out, SafetensorsWriter.Dtype.BF16, 1L << 30, true);
    HfExport.export(request, line -> {});
    byte[] first = Files.readAllBytes(out.resolve("model.safetensors"));
    HfExport.export(request, line -> {}); // over its own earlier export: allowed
    assertThat(Files.readAllBytes(out.resolve("model.safetensors"))).isEqualTo(first);

    Path notes = tmp.resolve("notes");
    Files.createDirectories(notes);
    Files.writeString(notes.resolve("todo.txt"), "keep me");
    Files.writeString(notes.resolve("data.bin"), "and me");
    assertThatThrownBy(() ->
            HfExport.export(
                new HfExport.Request(
                    tmp.resolve("run"), notes, SafetensorsWriter.Dtype.BF16, 1L << 30, true),
                line -> {}))
        .hasMessageContaining("replaces only an earlier cria export")
        .hasMessageContaining("data.bin, todo.txt");
    assertThat(notes.resolve("todo.txt")).hasContent("keep me");
    assertThat(notes.resolve("data.bin")).hasContent("and me");

    Files.writeString(out.resolve("mine.txt"), "added by hand");
    assertThatThrownBy(() -> HfExport.export(request, line -> {}))
        .hasMessageContaining("holds files cria did not write: mine.txt");
    assertThat(out.resolve("mine.txt")).exists();
  }
}
