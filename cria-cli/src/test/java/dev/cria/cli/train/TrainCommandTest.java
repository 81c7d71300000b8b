package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.core.tensorboard.TensorBoardEvents;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cria train} end to end: a tokenizer and dataset made by cria, a small model, the run
 * directory.
 */
class TrainCommandTest {
  @TempDir static Path tmp;
  static SmallCorpus corpus;

  @BeforeAll
  static void prepareData() {
    corpus = SmallCorpus.prepareIn(tmp);
  }

  private static List<String> smallModel(Path runDir, String... more) {
    List<String> args = corpus.args("train", runDir, "--global-batch", "4", "--threads", "2");
    args.addAll(List.of(more));
    return args;
  }

  @Test
  void trainsWithFlagsOverAYamlConfigAndReportsProgress() throws Exception {
    Path config = tmp.resolve("run.yaml");
    Files.writeString(
        config,
        """
        trainer:
          max_steps: 12
          val_check_interval: 6
          limit_val_batches: 1
          log_every_n_steps: 3
        """);
    Path runDir = tmp.resolve("run");
    List<String> args = smallModel(runDir, "--config", config.toString(), "--max-steps", "9");
    CliRun run = CliRun.of(args.toArray(String[]::new));
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out())
        .contains(
            "train: documents 0..490",
            "valid: documents 490..500",
            "step     3/9 | loss",
            "tok/s | MFU",
            "| ETA",
            "validation at step 6: val_loss",
            "validation at step 9",
            "done: 9 step(s)",
            "tensorboard --logdir " + runDir);
    assertThat(run.out()).doesNotContain("step     4/9");
    assertThat(Files.readString(runDir.resolve("config.yaml")))
        .contains("max_steps: 9", "val_check_interval: 6");
    assertThat(
            Files.readAllLines(runDir.resolve("0/log")).stream().filter(l -> l.contains("] step ")))
        .hasSize(9);

    // the same command again continues the run, which is finished
    CliRun again = CliRun.of(args.toArray(String[]::new));
    assertThat(again.exitCode()).as(again.err()).isZero();
    assertThat(again.out())
        .contains(
            "resumed from " + runDir.resolve("checkpoints/step-9") + ": step 9",
            "done: nothing to train, the run is already at step 9 of trainer.max_steps 9; raise"
                + " --max-steps to continue it")
        .doesNotContain("loss NaN");
    // and its status says where the run stands, not step 0
    dev.cria.core.run.RankStatus status =
        dev.cria.core.run.StatusFiles.read(dev.cria.core.run.StatusFiles.file(runDir, 0));
    assertThat(status.step()).isEqualTo(9);
    assertThat(status.state()).isEqualTo(dev.cria.core.run.RankState.FINISHED);
    // an attempt with another shape fails on the checkpoint, and does not spoil the next resume
    CliRun wrong = CliRun.of("train", "--run-dir", runDir.toString(), "--layers", "3");
    assertThat(wrong.exitCode()).isEqualTo(1);
    assertThat(wrong.err()).contains("no tensor model.layers.2.");
    // a bare --run-dir continues the run with its checkpoint's config
    CliRun longer = CliRun.of("train", "--run-dir", runDir.toString(), "--max-steps", "11");
    assertThat(longer.exitCode()).as(longer.err()).isZero();
    assertThat(longer.out())
        .contains(": step 9, consumed samples 36", "step    11/11", "done: 11 step(s)");
    assertThat(Files.readString(runDir.resolve("config.yaml")))
        .contains("max_steps: 11", "val_check_interval: 6");
    CliRun eatsItself =
        CliRun.of(
            "train",
            "--run-dir",
            runDir.toString(),
            "--overwrite",
            "--resume-from",
            runDir.resolve("checkpoints/step-11").toString());
    assertThat(eatsItself.exitCode()).isEqualTo(1);
    assertThat(eatsItself.err())
        .contains("--overwrite would delete the checkpoint --resume-from names");
    CliRun refused = CliRun.of(smallModel(runDir, "--no-resume").toArray(String[]::new));
    assertThat(refused.exitCode()).isEqualTo(1);
    assertThat(refused.err()).contains("already holds a run", "--overwrite");
  }

  @Test
  void checkTestsTheRunAndBuildsItsIndexCacheWithoutTraining() throws Exception {
    Path runDir = tmp.resolve("checked");
    CliRun run =
        CliRun.of(
            smallModel(runDir, "--check", "--nproc", "2", "--max-steps", "3")
                .toArray(String[]::new));
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out())
        .contains("train: documents 0..490", "checks passed for 2 rank(s)")
        .doesNotContain("step ");
    try (Stream<Path> cache = Files.list(runDir.resolve("index_cache"))) {
      assertThat(cache.map(p -> p.getFileName().toString()))
          .anyMatch(n -> n.endsWith("-GPTDataset-train-shuffle_index.npy"));
    }
    assertThat(runDir.resolve("checkpoints")).doesNotExist();
    assertThat(runDir.resolve("0")).doesNotExist();
    // the training job then finds the cache the check built
    CliRun train = CliRun.of(smallModel(runDir, "--max-steps", "3").toArray(String[]::new));
    assertThat(train.exitCode()).as(train.err()).isZero();
    assertThat(train.out()).contains("indices from cache").doesNotContain("indices built");

    CliRun tooBig =
        CliRun.of(
            "train",
            "--check",
            "--preset",
            "llama2-70b",
            "--data-prefix",
            corpus.prefix().toString(),
            "--run-dir",
            tmp.resolve("big-check").toString());
    assertThat(tooBig.exitCode()).isEqualTo(1);
    assertThat(tooBig.err())
        .containsPattern("a rank of this run needs 18\\d\\d\\.\\d GB \\(parameters 275\\.9 GB")
        // what would fit depends on this machine's memory: ZeRO-3 over enough hosts, or nothing
        .containsPattern(
            "nothing cria can change: .*ZeRO-3 over up to 4096 hosts does not fit either"
                + "|would fit: --zero 3.* on \\d+ host\\(s\\)")
        .contains("cria compile shows the table")
        .doesNotContain("\n  ");
  }

  @Test
  void aRunSavesThePathsItReadsAbsoluteSoAnotherDirectoryFindsThem() throws Exception {
    Path here = Path.of("").toAbsolutePath();
    Path runDir = tmp.resolve("relative");
    List<String> args = smallModel(runDir, "--max-steps", "3", "--val-batches", "0");
    args.set(args.indexOf("--data-prefix") + 1, "./" + here.relativize(corpus.prefix()));
    args.set(args.indexOf("--tokenizer") + 1, here.relativize(corpus.tokenizer()).toString());
    CliRun run = CliRun.of(args.toArray(String[]::new));
    assertThat(run.exitCode()).as(run.err()).isZero();

    TrainConfig saved = TrainConfigFile.readSaved(runDir.resolve("config.yaml"));
    Path prefix = Path.of(saved.data().dataPrefix().getFirst());
    Path tokenizer = Path.of(saved.model().tokenizer());
    assertThat(prefix).isAbsolute();
    assertThat(prefix.toString()).doesNotContain("/./");
    assertThat(Path.of(prefix + ".idx")).isRegularFile();
    assertThat(Files.isSameFile(Path.of(prefix + ".idx"), Path.of(corpus.prefix() + ".idx")))
        .isTrue();
    assertThat(tokenizer).isAbsolute();
    assertThat(Files.isSameFile(tokenizer, corpus.tokenizer())).isTrue();
  }

  @Test
  void configMistakesAreOneLineErrors() {
    CliRun missing =
        CliRun.of(
            "train",
            "--data-prefix",
            tmp.resolve("nothing").toString(),
            "--run-dir",
            tmp.resolve("x").toString());
    assertThat(missing.exitCode()).isEqualTo(1);
    assertThat(missing.err().strip())
        .isEqualTo(
            "cria: data.data_prefix: "
                + tmp.resolve("nothing")
                + ".idx does not"
                + " exist (make it with cria prepare)");

    CliRun tooLong =
        CliRun.of(smallModel(tmp.resolve("y"), "--seq-len", "64").toArray(String[]::new));
    assertThat(tooLong.exitCode()).isEqualTo(1);
    assertThat(tooLong.err())
        .contains("data.seq_length 64 is longer than the model's max_position_embeddings 32");

    // a model too big for this machine is refused before its run directory is made
    CliRun tooBig =
        CliRun.of(
            "train",
            "--preset",
            "llama2-7b",
            "--data-prefix",
            tmp.resolve("none").toString(),
            "--run-dir",
            tmp.resolve("big").toString());
    assertThat(tooBig.exitCode()).isEqualTo(1);
    assertThat(tooBig.err().strip().lines()).hasSize(1);
    assertThat(tooBig.err())
        .contains("needs")
        .contains("GB")
        .contains("cria compile shows the table");
    assertThat(tmp.resolve("big")).doesNotExist();

    CliRun badYaml = CliRun.of("train", "--config", tmp.resolve("absent.yaml").toString());
    assertThat(badYaml.exitCode()).isEqualTo(1);
    assertThat(badYaml.err()).contains("absent.yaml: no such config file");
    assertThat(tmp.resolve("x")).doesNotExist();

    CliRun noWait =
        CliRun.of(smallModel(tmp.resolve("z"), "--join-timeout", "0").toArray(String[]::new));
    assertThat(noWait.exitCode()).isEqualTo(1);
    assertThat(noWait.err()).contains("--join-timeout 0: a wait of at least 1 second");
    CliRun noPatience =
        CliRun.of(smallModel(tmp.resolve("z"), "--timeout", "-5").toArray(String[]::new));
    assertThat(noPatience.err()).contains("--timeout -5: a wait of at least 1 second");
    assertThat(tmp.resolve("z")).doesNotExist();
  }

  @Test
  void sigtermStopsAfterTheCurrentStepWithMetricsFlushed() throws Exception {
    Path runDir = tmp.resolve("stopped");
    List<String> command = SmallCorpus.criaJvm();
    command.addAll(smallModel(runDir, "--max-steps", "100000", "--val-interval", "0"));
    Process p =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("stopped.out").toFile())
            .start();
    Path log = runDir.resolve("0/log");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (stepLines(log) < 3 && p.isAlive() && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    p.destroy(); // SIGTERM
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    String out = Files.readString(tmp.resolve("stopped.out"));
    assertThat(p.exitValue()).as(out).isEqualTo(143);
    long steps = stepLines(log);
    // the summary is printed before the stop hook lets the JVM exit
    assertThat(out).contains("stopped after " + steps + " step(s) in ");
    assertThat(out).contains("checkpoint: " + runDir.resolve("checkpoints/step-" + steps));
    assertThat(out).contains("checkpoint saved: " + runDir.resolve("checkpoints/step-" + steps));
    assertThat(steps).isGreaterThanOrEqualTo(3);
    assertThat(Files.readString(log)).contains("stopped after step " + steps + " of 100000");
    Path events;
    try (Stream<Path> s = Files.list(runDir)) {
      events =
          s.filter(f -> f.getFileName().toString().startsWith("events.out.tfevents."))
              .findFirst()
              .orElseThrow();
    }
    assertThat(
            TensorBoardEvents.read(events).scalars().stream()
                .filter(s -> s.tag().equals("reduced_train_loss")))
        .hasSize((int) steps);
  }

  static long stepLines(Path log) throws Exception {
    if (!Files.exists(log)) {
      return 0;
    }
    try (Stream<String> lines = Files.lines(log)) {
      return lines.filter(l -> l.contains("] step ")).count();
    }
  }
}
