package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.cli.CliRun;
import dev.cria.train.checkpoint.Checkpoint;
import dev.cria.train.checkpoint.Checkpoints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeMap;
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
 * worker) the same command resumes to the losses of the run that was never interrupted. The runs
 * beat every 2 s ({@code distributed.heartbeat_seconds=2}), so a silent rank is named after 12 s
 * rather than the default 30; time bounds here are liveness bounds far above the stated ones.
 */
class WorkerFaultsTest {
  private static final int STEPS = 120;
  private static final int HEARTBEAT_SECONDS = 2;
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
            Integer.toString(STEPS),
            "distributed.heartbeat_seconds=" + HEARTBEAT_SECONDS);
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

  @Test
  void aStoppedWorkerIsNamedTheJobEndsAndTheSameCommandResumesToTheSameLosses() throws Exception {
    Path straight = tmp.resolve("straight");
    CliRun uninterrupted =
        CliRun.of(args("train", straight, "--nproc", "2").toArray(String[]::new));
    assertThat(uninterrupted.exitCode()).as(uninterrupted.out()).isZero();

    Path runDir = tmp.resolve("sigstop");
    List<String> launcher = SmallCorpus.criaJvm();
    launcher.addAll(args("train", runDir, "--nproc", "2"));
    Path output = tmp.resolve("sigstop.out");
    Process job =
        new ProcessBuilder(launcher)
            .redirectErrorStream(true)
            .redirectOutput(output.toFile())
            .start();
    long[] workers = awaitWorkers(runDir, 15); // past the checkpoint of step 10
    signal("STOP", workers[1]);
    long t0 = System.nanoTime();
    assertThat(job.waitFor(180, TimeUnit.SECONDS)).isTrue();
    double seconds = (System.nanoTime() - t0) / 1e9;
    String out = Files.readString(output);
    assertThat(job.exitValue()).as(out).isEqualTo(1);
    assertThat(out)
        .contains("[rank 0] cria: rank 0: rank 1 (pid " + workers[1] + " on ")
        .contains("stopped answering: its status has not changed for 12 s")
        .contains("worker rank 0 exited with code 1 (rank 0: rank 1 (pid " + workers[1]);
    assertThat(seconds).as(out).isGreaterThan(10).isLessThan(150);
    awaitGone(workers, 30); // the stopped worker too
    String status0 = Files.readString(runDir.resolve("0/status.json"));
    assertThat(status0).contains("\"state\":\"failed\"", "stopped answering");
    List<Path> saved = Checkpoints.list(runDir);
    Checkpoint.open(saved.getLast()).verify();

    CliRun resumed = CliRun.of(args("train", runDir, "--nproc", "2").toArray(String[]::new));
    assertThat(resumed.exitCode()).as(resumed.out()).isZero();
    assertThat(resumed.out()).contains("resumed from " + saved.getLast());
    TreeMap<Long, Float> expected = ResumeCommandTest.losses(straight);
    TreeMap<Long, Float> actual = ResumeCommandTest.losses(runDir);
    assertThat(expected).isNotEmpty();
    assertThat(actual.keySet()).isEqualTo(expected.keySet());
    for (long s : expected.keySet()) {
      assertThat(Float.floatToRawIntBits(actual.get(s)))
          .as("step %d", s)
          .isEqualTo(Float.floatToRawIntBits(expected.get(s)));
    }
  }

  @Test
  void underMpirunAStoppedRankEndsTheJobNamedAndADeadOneIsNamedBeforeMpirunEndsTheOthers()
      throws Exception {
    Path mpirun = Path.of("/usr/bin/mpirun");
    assumeTrue(
        Files.isExecutable(mpirun), "skipped: /usr/bin/mpirun is absent (install openmpi-bin)");
    // SIGSTOP: the watch of rank 0 names rank 1 and aborts the MPI job, which has no timeout
    Path stopped = tmp.resolve("mpi-stop");
    Process job = mpirun(mpirun, stopped, tmp.resolve("mpi-stop.out"));
    long[] ranks = awaitWorkers(stopped, 15); // past the checkpoint of step 10
    signal("STOP", ranks[1]);
    assertThat(job.waitFor(180, TimeUnit.SECONDS)).isTrue();
    String out = Files.readString(tmp.resolve("mpi-stop.out"));
    assertThat(job.exitValue()).as(out).isNotZero();
    assertThat(out)
        .contains("rank 0: rank 1 (pid " + ranks[1] + " on ")
        .contains("stopped answering")
        .contains("MPI_ABORT was invoked on rank 0");
    awaitGone(ranks, 60);
    Checkpoint.open(Checkpoints.list(stopped).getLast()).verify();

    // SIGKILL of rank 1: mpirun ends rank 0, which first says in its log which rank is gone
    Path killed = tmp.resolve("mpi-kill");
    job = mpirun(mpirun, killed, tmp.resolve("mpi-kill.out"));
    ranks = awaitWorkers(killed, 5);
    signal("KILL", ranks[1]);
    assertThat(job.waitFor(180, TimeUnit.SECONDS)).isTrue();
    awaitGone(ranks, 60);
    assertThat(Files.readString(killed.resolve("0/log")))
        .contains("asked to stop; the watched peers: rank 1 (pid " + ranks[1] + ") is gone");

    // mpirun killed: its ranks get SIGTERM from the kernel and stop with a checkpoint
    Path orphaned = tmp.resolve("mpi-orphaned");
    job = mpirun(mpirun, orphaned, tmp.resolve("mpi-orphaned.out"));
    ranks = awaitWorkers(orphaned, 15);
    job.destroyForcibly();
    awaitGone(ranks, 120);
    for (int r = 0; r < 2; r++) {
      assertThat(Files.readString(orphaned.resolve(r + "/log")))
          .containsPattern("stopped after step \\d+ of " + 100000);
    }
    Checkpoint.open(Checkpoints.list(orphaned).getLast()).verify();
  }

  @Test
  void aFullFileSystemUnderOneRankEndsTheJobAtOnceNamingTheFile() throws Exception {
    Path runDir = tmp.resolve("full");
    Path rankOne = runDir.resolve("1");
    Files.createDirectories(rankOne);
    // a 16 KiB file system for rank 1's directory only: its log fills it after a few dozen steps
    Process mount =
        new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", rankOne.toString())
            .redirectErrorStream(true)
            .start();
    String why = new String(mount.getInputStream().readAllBytes());
    assertThat(mount.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assumeTrue(
        mount.exitValue() == 0, "skipped: cannot mount a tmpfs here (needs root): " + why.strip());
    try {
      List<String> launcher = SmallCorpus.criaJvm();
      launcher.addAll(args("train", runDir, "--nproc", "2", "--max-steps", "100000"));
      Path output = tmp.resolve("full.out");
      Process job =
          new ProcessBuilder(launcher)
              .redirectErrorStream(true)
              .redirectOutput(output.toFile())
              .start();
      long[] workers = awaitWorkers(runDir, 1);
      assertThat(job.waitFor(300, TimeUnit.SECONDS)).isTrue();
      String out = Files.readString(output);
      assertThat(job.exitValue()).as(out).isEqualTo(1);
      assertThat(out)
          .contains(
              "[rank 1] cria: cannot write the rank log "
                  + rankOne.resolve("log")
                  + ": No space left on device")
          .contains("[rank 0] cria: rank 0: rank 1 left the group during")
          .contains("cria: worker rank 1 failed (exit code 1)");
      awaitGone(workers, 30);
      Checkpoint.open(Checkpoints.list(runDir).getLast()).verify();
    } finally {
      new ProcessBuilder("umount", rankOne.toString()).start().waitFor(30, TimeUnit.SECONDS);
    }
  }

  private static Process mpirun(Path mpirun, Path runDir, Path output) throws IOException {
    return MpirunTest.start(mpirun, args("worker", runDir, "--max-steps", "100000"), output);
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
