package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.core.tensorboard.TensorBoardEvents;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A short training run against an independent one: the committed curve that {@code
 * tools/make_training_fixture.sh} made with {@code tools/train_pytorch.py} (a PyTorch Llama of its
 * own, Megatron-Core's sample order in numpy, AdamW and the cosine schedule as NeMo's) from cria's
 * seeded initial weights, on the bundled corpus as {@link SmallCorpus} prepares it. Every step's
 * learning rate, loss and gradient norm, and both validations, agree to within bounds that a wrong
 * gradient, a wrong schedule or a wrong sample order would break (each measured in the test's
 * message).
 */
class PyTorchCurveTest {
  /** The fixture's settings: tools/make_training_fixture.sh passes the same to both. */
  static final List<String> SETTINGS =
      List.of(
          "--split",
          "98,2,0",
          "--seq-len",
          "32",
          "--micro-batch",
          "2",
          "--global-batch",
          "8",
          "--max-steps",
          "40",
          "--lr",
          "1e-2",
          "--min-lr",
          "1e-3",
          "--warmup-steps",
          "4",
          "--weight-decay",
          "0.1",
          "--clip-grad",
          "1.0",
          "--seed",
          "1234",
          "--val-interval",
          "20",
          "--val-batches",
          "2",
          "--threads",
          "1");

  @TempDir Path tmp;

  @Test
  void fortyStepsFollowPyTorchsCurve() throws Exception {
    JsonNode fixture =
        JsonMapper.builder()
            .build()
            .readTree(getClass().getResourceAsStream("/fixtures/pytorch-curve-brown-d32.json"));
    assertThat(fixture.path("settings").asString()).isEqualTo(String.join(" ", SETTINGS));
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp);
    List<String> args = new ArrayList<>(corpus.args("train", tmp.resolve("run")));
    args.addAll(SETTINGS);
    args.addAll(List.of("--log-interval", "1"));
    CliRun run = CliRun.of(args.toArray(String[]::new));
    assertThat(run.exitCode()).as(run.err()).isZero();
    Map<String, TreeMap<Long, Float>> cria = scalars(tmp.resolve("run"));

    double worstLoss = 0;
    double worstNorm = 0;
    for (JsonNode s : fixture.path("train")) {
      long step = s.path("step").asLong();
      assertThat((double) cria.get("lr").get(step))
          .as("lr at step %d", step)
          .isCloseTo(
              s.path("lr").asDouble(), org.assertj.core.data.Percentage.withPercentage(1e-4));
      worstLoss =
          Math.max(
              worstLoss,
              Math.abs(cria.get("reduced_train_loss").get(step) - s.path("loss").asDouble()));
      worstNorm =
          Math.max(
              worstNorm,
              Math.abs(cria.get("gradient_norm").get(step) - s.path("grad_norm").asDouble())
                  / s.path("grad_norm").asDouble());
    }
    assertThat(cria.get("reduced_train_loss")).hasSize(40);
    // measured here: 1.2e-6 and 1.0e-4 (fp32 sums in another order); a wrong gradient or sample
    // moves the loss by more than 1e-2 within a few steps at this learning rate
    assertThat(worstLoss).as("largest |loss difference| over 40 steps").isLessThan(1e-4);
    assertThat(worstNorm).as("largest relative gradient norm difference").isLessThan(1e-3);
    for (JsonNode v : fixture.path("valid")) {
      long step = v.path("step").asLong();
      assertThat((double) cria.get("val_loss").get(step))
          .as("val_loss at step %d", step)
          .isCloseTo(v.path("loss").asDouble(), org.assertj.core.data.Offset.offset(1e-4));
    }
  }

  /** Every scalar of the run's event files, by tag and step; the newest file wins a step. */
  static Map<String, TreeMap<Long, Float>> scalars(Path runDir) throws IOException {
    Map<String, TreeMap<Long, Float>> out = new TreeMap<>();
    List<Path> files;
    try (Stream<Path> s = Files.list(runDir)) {
      files =
          s.filter(f -> f.getFileName().toString().startsWith("events.out.tfevents."))
              .sorted()
              .toList();
    }
    for (Path f : files) {
      for (var e : TensorBoardEvents.read(f).scalars()) {
        out.computeIfAbsent(e.tag(), t -> new TreeMap<>()).put(e.step(), e.value());
      }
    }
    return out;
  }
}
