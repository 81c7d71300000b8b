package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.train.checkpoint.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cria train --nproc N}: worker JVMs, the same result as one process, failures and signals.
 */
class LocalLauncherTest {
  @TempDir static Path tmp;
  static SmallCorpus corpus;

  @BeforeAll
  static void prepareData() {
    corpus = SmallCorpus.prepareIn(tmp);
  }

  private static List<String> args(Path runDir, String... more) {
    List<String> args =
        corpus.args(
            "train",
            runDir,
            "--global-batch",
            "8",
            "--val-interval",
            "0",
            "--val-batches",
            "1",
            "--threads",
            "1");
    args.addAll(List.of(more));
    return args;
  }

  private static double finalLoss(String out) {
    return SmallCorpus.finalLoss(out) + 1000 * SmallCorpus.finalValLoss(out);
  }

  @Test
  void twoWorkersReproduceOneProcess() {
    CliRun one = CliRun.of(args(tmp.resolve("one"), "--max-steps", "6").toArray(String[]::new));
    assertThat(one.exitCode()).as(one.err()).isZero();
    CliRun two =
        CliRun.of(
            args(tmp.resolve("two"), "--max-steps", "6", "--nproc", "2").toArray(String[]::new));
    assertThat(two.exitCode()).as(two.out() + two.err()).isZero();
    assertThat(two.out())
        .contains(
            "launching 2 workers with 1 thread(s) each",
            "[rank 0] step     6/6",
            "[rank 0] done: 6 step(s)");
    assertThat(finalLoss(two.out()))
        .isCloseTo(finalLoss(one.out()), org.assertj.core.data.Offset.offset(2e-3));
    assertThat(tmp.resolve("two/0/log")).exists();
    assertThat(tmp.resolve("two/1/log")).exists();
  }

  @Test
  void aDeadWorkerStopsTheOthersAndIsNamed() throws Exception {
    Path runDir = tmp.resolve("killed");
    Process launcher =
        start(
            args(runDir, "--max-steps", "100000", "--nproc", "2", "--timeout", "20"),
            tmp.resolve("killed.out"));
    long pid = waitForPid(runDir.resolve("1/log"), launcher);
    ProcessHandle.of(pid).orElseThrow().destroyForcibly(); // SIGKILL rank 1
    assertThat(launcher.waitFor(90, TimeUnit.SECONDS)).isTrue();
    String out = Files.readString(tmp.resolve("killed.out"));
    assertThat(launcher.exitValue()).as(out).isEqualTo(1);
    assertThat(out).contains("worker rank 1 exited with code 137", "cria: worker rank 1 failed");
    assertThat(ProcessHandle.of(launcher.pid()).map(ProcessHandle::isAlive).orElse(false))
        .isFalse();
  }

  @Test
  void sigtermOnTheLauncherStopsEveryWorkerAfterTheSameStep() throws Exception {
    Path runDir = tmp.resolve("term");
    Process launcher =
        start(args(runDir, "--max-steps", "100000", "--nproc", "2"), tmp.resolve("term.out"));
    waitForPid(runDir.resolve("1/log"), launcher);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (steps(runDir.resolve("1/log")) < 3 && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    launcher.destroy(); // SIGTERM
    assertThat(launcher.waitFor(90, TimeUnit.SECONDS)).isTrue();
    String out = Files.readString(tmp.resolve("term.out"));
    assertThat(launcher.exitValue()).as(out).isEqualTo(143);
    String log0 = Files.readString(runDir.resolve("0/log"));
    String log1 = Files.readString(runDir.resolve("1/log"));
    Matcher m0 = Pattern.compile("stopped after step (\\d+) of").matcher(log0);
    Matcher m1 = Pattern.compile("stopped after step (\\d+) of").matcher(log1);
    assertThat(m0.find()).as(log0).isTrue();
    assertThat(m1.find()).as(log1).isTrue();
    assertThat(m1.group(1)).isEqualTo(m0.group(1));
    // and the launcher's console shows them, not only the logs
    assertThat(out)
        .contains("[rank 0] checkpoint saved: " + runDir.resolve("checkpoints/step-" + m0.group(1)))
        .contains("[rank 0] stopped after " + m0.group(1) + " step(s)")
        // a stop asked for is not a worker's failure
        .doesNotContain("exited with code", "failed (exit code");
    // the stop saved a checkpoint of that step, each worker its own optimizer shard
    Checkpoint saved = Checkpoint.open(runDir.resolve("checkpoints/step-" + m0.group(1))).verify();
    assertThat(saved.manifest().files())
        .containsKeys(
            "optimizer/rank-00000-of-00002.safetensors",
            "optimizer/rank-00001-of-00002.safetensors");
    assertThat(saved.state().worldSize()).isEqualTo(2);
  }

  @Test
  void aWorkerWaitingForItsPeersEndsAtOnceOnSigterm() throws Exception {
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      port = s.getLocalPort();
    }
    List<String> command = SmallCorpus.criaJvm();
    command.addAll(corpus.args("worker", tmp.resolve("alone"), "--join-timeout", "600"));
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("alone.out").toFile());
    pb.environment().put("CRIA_RANK", "0");
    pb.environment().put("CRIA_WORLD_SIZE", "2"); // rank 1 never comes
    pb.environment().put("CRIA_MASTER_PORT", Integer.toString(port));
    pb.environment().put("CRIA_JOB_SECRET", "a secret nobody else knows, 32 b");
    Process worker = pb.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) { // until rank 0 listens, waiting for rank 1
      try (java.net.Socket probe = new java.net.Socket("127.0.0.1", port)) {
        break;
      } catch (java.io.IOException e) {
        Thread.sleep(50);
      }
    }
    worker.destroy(); // SIGTERM
    // a liveness bound far above an honest stop: the join would wait 600 s for rank 1
    assertThat(worker.waitFor(60, TimeUnit.SECONDS)).isTrue();
    String out = Files.readString(tmp.resolve("alone.out"));
    assertThat(worker.exitValue()).as(out).isEqualTo(143);
  }

  private static Process start(List<String> args, Path output) throws Exception {
    List<String> command = SmallCorpus.criaJvm();
    command.addAll(args);
    return new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(output.toFile())
        .start();
  }

  /** The pid that a worker's log names, once it has started training. */
  private static long waitForPid(Path log, Process launcher) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    Pattern pid = Pattern.compile("pid (\\d+)");
    while (System.nanoTime() < deadline && launcher.isAlive()) {
      if (Files.exists(log) && steps(log) >= 1) {
        Matcher m = pid.matcher(Files.readString(log));
        if (m.find()) {
          return Long.parseLong(m.group(1));
        }
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no worker started training in " + log);
  }

  private static long steps(Path log) throws Exception {
    if (!Files.exists(log)) {
      return 0;
    }
    try (Stream<String> lines = Files.lines(log)) {
      return lines.filter(l -> l.contains("] step ")).count();
    }
  }
}
