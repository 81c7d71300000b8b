package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.train.checkpoint.Checkpoint;
import dev.cria.train.checkpoint.Checkpoints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults a long job meets, in real processes: a launcher killed and never reaped, a worker that
 * stops answering (SIGSTOP) under {@code --nproc} and under mpirun, a rank that dies under mpirun,
 * mpirun killed. After each: no process left, the last checkpoint whole, and (for the stopped
 * worker) the same command resumes to the losses of the run that was never interrupted. Time bounds
 * here are liveness bounds far above the stated ones (a silent rank: 30 s).
 */
class WorkerFaultsTest {
  private static final int STEPS = 120;
  @TempDir static Path tmp;
  static SmallCorpus corpus;

  @BeforeAll
  static void prepareData() {
    corpus = SmallCorpus.prepareIn(tmp);
  }

  private static List<String> args(String command, Path runDir, String... more) {
    List<String> args =
        corpus.args(
            command,
            runDir,
            "--global-batch",
            "8",
            "--val-interval",
            "0",
            "--val-batches",
            "1",
            "--threads",
            "1",
            "--save-interval",
            "10",
            "--max-steps",
            Integer.toString(STEPS));
    args.addAll(List.of(more));
    return args;
  }

  @Test
  void workersOfALauncherKilledButNeverReapedStopWithACheckpoint() throws Exception {
    Path runDir = tmp.resolve("unreaped");
    List<String> launcher = SmallCorpus.criaJvm();
    launcher.addAll(args("train", runDir, "--nproc", "2", "--max-steps", "100000"));
    Path pidFile = tmp.resolve("unreaped.pid");
    // sh starts the launcher in the background, then becomes sleep, which never reaps it
    String script =
        quote(launcher)
            + " > "
            + quote(List.of(tmp.resolve("unreaped.out").toString()))
            + " 2>&1 & echo $! > "
            + quote(List.of(pidFile.toString()))
            + "; exec sleep 600";
    Process parent = new ProcessBuilder("sh", "-c", script).start();
    try {
      long[] workers = awaitWorkers(runDir, 3);
      long launcherPid = Long.parseLong(Files.readString(pidFile).trim());
      ProcessHandle.of(launcherPid).orElseThrow().destroyForcibly(); // SIGKILL
      long t0 = System.nanoTime();
      awaitGone(workers, 120);
      double seconds = (System.nanoTime() - t0) / 1e9;
      // the launcher was a zombie all along: nobody asked for its pid, the pipe told the workers
      assertThat(processState(launcherPid)).isEqualTo('Z');
      assertThat(seconds).isLessThan(120);
      for (int r = 0; r < 2; r++) {
        String log = Files.readString(runDir.resolve(r + "/log"));
        assertThat(log)
            .contains("the launcher is gone (its pipe closed): stopping after this step")
            .containsPattern("stopped after step \\d+ of 100000");
      }
      List<Path> saved = Checkpoints.list(runDir);
      Checkpoint.open(saved.getLast()).verify();
    } finally {
      parent.destroyForcibly();
    }
  }

  /** The pids of ranks 0 and 1, once rank 1 has logged {@code steps} steps. */
  private static long[] awaitWorkers(Path runDir, int steps) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
    Pattern pid = Pattern.compile("rank \\d of 2, pid (\\d+)");
    while (System.nanoTime() < deadline) {
      Path log1 = runDir.resolve("1/log");
      if (Files.exists(log1) && TrainCommandTest.stepLines(log1) >= steps) {
        long[] pids = new long[2];
        for (int r = 0; r < 2; r++) {
          Matcher m = pid.matcher(Files.readString(runDir.resolve(r + "/log")));
          assertThat(m.find()).isTrue();
          pids[r] = Long.parseLong(m.group(1));
        }
        return pids;
      }
      Thread.sleep(20);
    }
    throw new AssertionError("the workers of " + runDir + " did not reach step " + steps);
  }

  private static void awaitGone(long[] pids, int seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    for (long pid : pids) {
      while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)
          && processState(pid) != 'Z'
          && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertThat(
              ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)
                  && processState(pid) != 'Z')
          .as("process %d still there after %d s", pid, seconds)
          .isFalse();
    }
  }

  private static void signal(String name, long pid) throws Exception {
    Process kill =
        new ProcessBuilder("kill", "-" + name, Long.toString(pid))
            .redirectErrorStream(true)
            .start();
    assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(kill.exitValue()).as(new String(kill.getInputStream().readAllBytes())).isZero();
  }

  /** The state letter of {@code /proc/<pid>/stat}, or '?' when it is gone. */
  private static char processState(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      return stat.charAt(stat.lastIndexOf(')') + 2);
    } catch (IOException e) {
      return '?';
    }
  }

  private static String quote(List<String> words) {
    return words.stream()
        .map(w -> "'" + w.replace("'", "'\\''") + "'")
        .collect(Collectors.joining(" "));
  }
}
