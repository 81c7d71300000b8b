package dev.cria.cli.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cria.cli.CliRun;
import dev.cria.cli.train.SmallCorpus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** {@code cria eval}, {@code cria export} and {@code cria generate} on a run that cria trained. */
class ModelCommandsTest {
  @TempDir static Path tmp;
  static Path run;
  static double valLoss;

  @BeforeAll
  static void train() {
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp);
    run = tmp.resolve("run");
    List<String> args =
        corpus.args(
            "train",
            run,
            "--global-batch",
            "4",
            "--threads",
            "2",
            "--max-steps",
            "30",
            "--val-interval",
            "0",
            "--val-batches",
            "2",
            "--max-seq-len",
            "64");
    CliRun trained = CliRun.of(args.toArray(String[]::new));
    assertThat(trained.exitCode()).as(trained.err()).isZero();
    valLoss = SmallCorpus.finalValLoss(trained.out());
  }

  private static JsonNode lastLineJson(String out) {
    String[] lines = out.strip().split("\n");
    return JsonMapper.builder().build().readTree(lines[lines.length - 1]);
  }

  @Test
  void evalRepeatsTheRunsValidationAndPrintsJsonLast() throws Exception {
    CliRun eval = CliRun.of("eval", run.toString(), "--json", "--threads", "2");
    assertThat(eval.exitCode()).as(eval.err()).isZero();
    assertThat(eval.out())
        .contains(
            "evaluating " + run.resolve("checkpoints/step-30") + " (step 30) on the valid split",
            "\n  valid: documents ", // the split as the run's log shows it, epochs included
            "valid loss ",
            "perplexity")
        .doesNotContain("  train: ");
    JsonNode json = lastLineJson(eval.out());
    assertThat(json.get("loss").doubleValue())
        .isCloseTo(valLoss, within(5e-5)); // the run prints 4 decimals
    assertThat(json.get("perplexity").doubleValue())
        .isCloseTo(Math.exp(json.get("loss").doubleValue()), within(1e-9));
    assertThat(json.get("batches").intValue()).isEqualTo(2);
    assertThat(json.get("tokens").longValue()).isEqualTo(2 * 4 * 32);

    // a checkpoint copied away from its run still evaluates (its index cache then goes to the temp
    // directory)
    Path moved = tmp.resolve("moved-step-30");
    copyTree(run.resolve("checkpoints/step-30"), moved);
    CliRun elsewhere = CliRun.of("eval", moved.toString(), "--json", "--threads", "2");
    assertThat(elsewhere.exitCode()).as(elsewhere.err()).isZero();
    assertThat(lastLineJson(elsewhere.out()).get("loss").doubleValue())
        .isEqualTo(json.get("loss").doubleValue());

    CliRun bad = CliRun.of("eval", tmp.resolve("nowhere").toString());
    assertThat(bad.exitCode()).isEqualTo(1);
    assertThat(bad.err().strip())
        .startsWith("cria: " + tmp.resolve("nowhere") + ": neither a checkpoint");
    CliRun split = CliRun.of("eval", run.toString(), "--split", "train");
    assertThat(split.exitCode()).isEqualTo(1);
    assertThat(split.err()).contains("--split must be valid or test");
    // refused before the checkpoint is read (a missing one would be named otherwise)
    CliRun none = CliRun.of("eval", tmp.resolve("nowhere").toString(), "--batches", "0");
    assertThat(none.err()).contains("--batches must be at least 1, got 0");
    CliRun threads = CliRun.of("eval", tmp.resolve("nowhere").toString(), "--threads", "-1");
    assertThat(threads.err()).contains("--threads must be 0 (every core) or more, got -1");
  }

  @Test
  void exportWritesAHuggingFaceDirectoryThatGeneratesAsTheCheckpointDoes() throws Exception {
    Path hf = tmp.resolve("hf");
    CliRun export =
        CliRun.of(
            "export",
            run.toString(),
            "--format",
            "hf",
            "--output",
            hf.toString(),
            "--dtype",
            "fp32");
    assertThat(export.exitCode()).as(export.err()).isZero();
    assertThat(export.out())
        .contains("exported " + run.resolve("checkpoints/step-30") + " (step 30, f32)");
    try (var files = Files.list(hf)) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder(
              "model.safetensors",
              "config.json",
              "generation_config.json",
              "tokenizer.model",
              "tokenizer.json",
              "tokenizer_config.json",
              ".cria-export.json"); // what --overwrite may replace later
    }
    JsonNode config = JsonMapper.builder().build().readTree(hf.resolve("config.json").toFile());
    assertThat(config.get("hidden_size").intValue()).isEqualTo(32);
    assertThat(config.get("vocab_size").intValue()).isEqualTo(600);
    assertThat(config.get("max_position_embeddings").intValue()).isEqualTo(64);

    CliRun again = CliRun.of("export", run.toString(), "--output", hf.toString());
    assertThat(again.exitCode()).isEqualTo(1);
    assertThat(again.err()).contains("holds an earlier cria export", "pass --overwrite");
    try (var siblings = Files.list(tmp)) {
      assertThat(siblings.map(p -> p.getFileName().toString()))
          .noneMatch(n -> n.contains(".partial"));
    }

    CliRun inside = CliRun.of("export", run.toString(), "--output", run.resolve("hf").toString());
    assertThat(inside.exitCode()).isEqualTo(1);
    assertThat(inside.err()).contains("overlaps the checkpoint it exports");

    Path sharded = tmp.resolve("hf-bf16");
    CliRun bf16 =
        CliRun.of(
            "export", run.toString(), "--output", sharded.toString(), "--max-shard-size", "20KB");
    assertThat(bf16.exitCode()).as(bf16.err()).isZero();
    assertThat(sharded.resolve("model.safetensors.index.json")).exists();
    assertThat(Files.readString(sharded.resolve("config.json")))
        .contains("\"torch_dtype\" : \"bfloat16\"");

    String[] greedy = {
      "--prompt", "The jury said", "--max-new-tokens", "12", "--temperature", "0", "--threads", "1"
    };
    CliRun fromCheckpoint = CliRun.of(concat(new String[] {"generate", run.toString()}, greedy));
    CliRun fromExport = CliRun.of(concat(new String[] {"generate", hf.toString()}, greedy));
    assertThat(fromCheckpoint.exitCode()).as(fromCheckpoint.err()).isZero();
    assertThat(fromCheckpoint.out()).startsWith("The jury said");
    assertThat(fromCheckpoint.out().length()).isGreaterThan("The jury said".length() + 5);
    assertThat(fromCheckpoint.err()).contains("new tokens in", "tokens/s", "; greedy]");
    assertThat(fromExport.out()).isEqualTo(fromCheckpoint.out());
    CliRun fromBf16 = CliRun.of(concat(new String[] {"generate", sharded.toString()}, greedy));
    assertThat(fromBf16.exitCode()).as(fromBf16.err()).isZero();
    assertThat(fromBf16.err()).contains("new tokens in");
    // the bf16 weights are the fp32 ones rounded once: too small a change to turn any of this
    // tiny model's 12 greedy choices (the same inputs every run, so no flake)
    assertThat(fromBf16.out()).isEqualTo(fromCheckpoint.out());
  }

  @Test
  void samplingIsRepeatableBySeed() {
    String[] common = {
      "generate",
      run.toString(),
      "--prompt",
      "It was",
      "--max-new-tokens",
      "20",
      "--temperature",
      "1.0",
      "--top-p",
      "0.95",
      "--threads",
      "1"
    };
    CliRun a = CliRun.of(concat(common, new String[] {"--seed", "7"}));
    CliRun b = CliRun.of(concat(common, new String[] {"--seed", "7"}));
    CliRun c = CliRun.of(concat(common, new String[] {"--seed", "8"}));
    assertThat(a.exitCode()).as(a.err()).isZero();
    assertThat(a.err()).contains("; temperature 1.0, top-p 0.95, seed 7]");
    assertThat(b.out()).isEqualTo(a.out());
    assertThat(c.out()).isNotEqualTo(a.out());
    CliRun cold = CliRun.of(concat(common, new String[] {"--temperature", "-1"}));
    assertThat(cold.exitCode()).isEqualTo(1);
    assertThat(cold.err()).contains("--temperature must be 0 (greedy) or more, got -1.0");
    CliRun threads = CliRun.of(concat(common, new String[] {"--threads", "-2"}));
    assertThat(threads.exitCode()).isEqualTo(1);
    assertThat(threads.err()).contains("--threads must be 0 (every core) or more, got -2");
    CliRun tooLong = CliRun.of("generate", run.toString(), "--prompt", "word ".repeat(100));
    assertThat(tooLong.exitCode()).isEqualTo(1);
    assertThat(tooLong.err())
        .contains("the model's context is 64, so a prompt has at most 63 (one new token needs");
    Path other = CliRun.trainedTokenizer(tmp.resolve("other-tokenizer"), 400);
    CliRun mismatched = CliRun.of("generate", run.toString(), "--tokenizer", other.toString());
    assertThat(mismatched.exitCode()).isEqualTo(1);
    assertThat(mismatched.err())
        .contains(
            "--tokenizer "
                + other
                + " has 400 tokens, the model 600: give the tokenizer the model was trained with");
  }

  private static void copyTree(Path from, Path to) throws java.io.IOException {
    try (var walk = Files.walk(from)) {
      for (Path p : walk.toList()) {
        Files.copy(p, to.resolve(from.relativize(p).toString()));
      }
    }
  }

  private static String[] concat(String[] a, String[] b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
