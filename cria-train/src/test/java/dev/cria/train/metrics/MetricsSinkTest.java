package dev.cria.train.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.core.tensorboard.TensorBoardEvents;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MetricsSinkTest {
  @TempDir Path run;

  static StepMetrics step(long s, double loss) {
    return new StepMetrics(
        s, 20, loss, 1e-3, 0.5, 12.0, 8 * s, 0.25, 0.1, 0.05, 32.0, 40.0, 8192.0, 0.42, 3.0);
  }

  @Test
  void tensorBoardGetsNemosTagNamesAndTheCommunicationOnlyWithSeveralRanks() throws IOException {
    Path file;
    try (TensorBoardSink board = new TensorBoardSink(TensorBoardWriter.create(run), 10, 2)) {
      file = board.file();
      board.step(step(1, 2.5));
      board.validation(new Validation(1, 2.25, 4, 0.5));
    }
    List<TensorBoardEvents.Scalar> scalars = TensorBoardEvents.read(file).scalars();
    assertThat(scalars)
        .extracting(TensorBoardEvents.Scalar::tag)
        .containsExactly(
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
            "communication_timing",
            "val_loss");
    assertThat(scalars.getFirst().value()).isEqualTo(2.5f);
    assertThat(scalars.getLast().value()).isEqualTo(2.25f);

    Path single = run.resolve("single");
    Files.createDirectories(single);
    try (TensorBoardSink board = new TensorBoardSink(TensorBoardWriter.create(single), 10, 1)) {
      board.step(step(1, 2.5));
      file = board.file();
    }
    assertThat(TensorBoardEvents.read(file).scalars())
        .extracting(TensorBoardEvents.Scalar::tag)
        .doesNotContain("communication_timing");
  }

  @Test
  void theRankLogHasALinePerStepWithEveryMetricAndTheFailure() throws IOException {
    try (RankLogSink log = new RankLogSink(RankLog.open(run, 1), 2)) {
      log.step(step(3, 2.5));
      log.validation(new Validation(3, 2.25, 4, 0.5));
      log.note("removed old checkpoint x");
      log.failed("the loss is NaN at step 4");
    }
    List<String> lines = Files.readAllLines(run.resolve("1/log"));
    assertThat(lines).hasSize(4);
    assertThat(lines.get(0))
        .matches(
            "\\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}] step 3/20 reduced_train_loss 2.5000"
                + " lr 1.0000e-03 gradient_norm 0.5000 parameter_norm 12.000 consumed_samples 24 train_step_timing 0.250s"
                + " throughput 32.00 samples/s tokens_per_sec 8192 mfu 42.0% communication_timing 0.100s \\(not"
                + " overlapped 0.050s\\)");
    assertThat(lines.get(1)).endsWith("validation step 3 val_loss 2.2500 (4 batches, 0.5 s)");
    assertThat(lines.get(2)).endsWith("removed old checkpoint x");
    assertThat(lines.get(3)).endsWith("failed: the loss is NaN at step 4");
  }

  @Test
  void oneSinkReportsToEachInOrderAndTheConsoleSeesNoLogOnlyLines() throws IOException {
    List<String> seen = new ArrayList<>();
    TrainListener console =
        new TrainListener() {
          @Override
          public void info(String line) {
            seen.add("console info " + line);
          }

          @Override
          public void step(StepMetrics metrics) {
            seen.add("console step " + metrics.step());
          }

          @Override
          public void validation(long step, double loss) {
            seen.add("console validation " + step);
          }
        };
    MetricsSink recorder =
        new MetricsSink() {
          @Override
          public void info(String line) {
            seen.add("first info " + line);
          }

          @Override
          public void note(String line) {
            seen.add("first note " + line);
          }

          @Override
          public void close() {
            seen.add("first closed");
          }
        };
    try (MetricsSink all = MetricsSink.of(List.of(recorder, console.asSink()))) {
      all.info("model");
      all.note("detail");
      all.step(step(1, 2.0));
      all.validation(new Validation(1, 1.5, 1, 0.1));
      all.warn("careful");
    }
    assertThat(seen)
        .containsExactly(
            "first info model",
            "console info model",
            "first note detail",
            "console step 1",
            "console validation 1",
            "first info warning: careful",
            "console info warning: careful",
            "first closed");
  }
}
