package dev.cria.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class MainTest {
  @Test
  void helpListsTheCommandsByLifecycleStep() {
    CliRun run = CliRun.of("--help");
    assertThat(run.exitCode()).isZero();
    assertThat(run.out())
        .contains(
            "Data:",
            "tokenizer",
            "prepare",
            "data",
            "Training:",
            "compile",
            "train",
            "Engine:",
            "bench",
            "On Kubernetes:",
            "image",
            "k8s");
  }

  @Test
  void workerTakesTrainsOptionsButNotTheLaunchersNproc() {
    CliRun train = CliRun.of("train", "--help");
    CliRun worker = CliRun.of("worker", "--help");
    assertThat(train.out()).contains("--nproc=N", "--print-config", "KEY=VALUE");
    assertThat(worker.out())
        .contains("--print-config", "KEY=VALUE", "--max-steps")
        .doesNotContain("--nproc=N");
    assertThat(CliRun.of("worker", "--nproc", "2").err()).contains("Unknown option", "'--nproc'");
  }

  @Test
  void versionNamesCriaAndJava() {
    CliRun run = CliRun.of("--version");
    assertThat(run.exitCode()).isZero();
    assertThat(run.out()).startsWith("cria ").contains("Java 25");
  }

  @Test
  void badFlagGivesUsageAndExitCode2() {
    CliRun run = CliRun.of("tokenizer", "inspect", "--no-such-flag", "x");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).contains("Unknown option", "Usage: cria tokenizer inspect");
  }

  @Test
  void unknownCommandGivesExitCode2() {
    assertThat(CliRun.of("frobnicate").exitCode()).isEqualTo(2);
  }

  @Test
  void benchNamesTheKnownPresetsForAnUnknownOne() {
    CliRun run = CliRun.of("bench", "--preset", "gpt5");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).contains("unknown model preset 'gpt5'", "tiny", "small", "llama2-7b");
  }

  @Test
  void errorsAreOneLineWithoutStackTraceUnlessVerbose() {
    CliRun run = CliRun.of("tokenizer", "inspect", "/nonexistent/tokenizer.model");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err().strip())
        .isEqualTo("cria: /nonexistent/tokenizer.model: no such tokenizer file");

    CliRun verbose = CliRun.of("--verbose", "tokenizer", "inspect", "/nonexistent/tokenizer.model");
    assertThat(verbose.exitCode()).isEqualTo(1);
    assertThat(verbose.err()).contains("cria: /nonexistent", "at dev.cria.");
  }
}
