package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import dev.cria.train.checkpoint.Checkpoint;
import dev.cria.train.checkpoint.Checkpoints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One job per run directory (a lock and a lease), and no orphans: a second job on a running job's
 * directory is refused naming the first; a lease whose holder was killed is taken over; workers
 * whose launcher is killed with SIGKILL stop by themselves, and the next run resumes.
 */
class OneJobPerRunTest {
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
            "4",
            "--val-interval",
            "0",
            "--save-interval",
            "20",
            "--threads",
            "1");
    args.addAll(List.of(more));
    return args;
  }

  private static Process start(List<String> args, Path output) throws IOException {
    List<String> command = SmallCorpus.criaJvm();
    command.addAll(args);
    return new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(output.toFile())
        .start();
  }

  private static List<RankStatus> waitForTraining(Path run, int ranks) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (System.nanoTime() < deadline) {
      List<RankStatus> s = Files.isDirectory(run) ? StatusFiles.readAll(run) : List.of();
      if (s.size() == ranks && s.stream().allMatch(r -> r.step() >= 25)) {
        return s;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the run never reached step 25 on " + ranks + " rank(s)");
  }

  @Test
  void aWorkerWithABadJobSecretEndsAtOnceSayingWhy() throws Exception {
    // the stop hook once went in before the secret was read, and then held the exit for minutes
    List<String> command = SmallCorpus.criaJvm();
    command.addAll(corpus.args("worker", tmp.resolve("bad-secret"), "--join-timeout", "5"));
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("bad-secret.out").toFile());
    pb.environment().put("CRIA_JOB_SECRET", "tooshort");
    pb.environment().put("CRIA_RANK", "0");
    pb.environment().put("CRIA_WORLD_SIZE", "2");
    Process p = pb.start();
    boolean ended = p.waitFor(60, TimeUnit.SECONDS);
    if (!ended) {
      p.destroyForcibly();
    }
    assertThat(ended).as("the worker ended within 60 s").isTrue();
    assertThat(p.exitValue()).isEqualTo(1);
    assertThat(Files.readString(tmp.resolve("bad-secret.out")))
        .contains("CRIA_JOB_SECRET holds 8 bytes; a job secret needs at least 16");
  }

  @Test
  void aSecondJobIsRefusedNamingTheFirstAndAKilledJobsLeaseIsTakenOver() throws Exception {
    Path run = tmp.resolve("shared");
    Process first = start(args(run, "--max-steps", "1000000"), tmp.resolve("first.out"));
    try {
      waitForTraining(run, 1);
      // refused rather than waiting: a second job that waited for the lease would wait for the
      // first's million steps, and this call would not return
      CliRun second = CliRun.of(args(run, "--max-steps", "1000000").toArray(String[]::new));
      assertThat(second.exitCode()).isEqualTo(1);
      assertThat(second.err())
          .contains("is in use by another job")
          .contains("pid " + first.pid())
          .contains("since ");

      List<String> worker = SmallCorpus.criaJvm();
      worker.addAll(args(run, "--max-steps", "1000000"));
      worker.set(worker.indexOf("train"), "worker");
      ProcessBuilder pb = new ProcessBuilder(worker).redirectErrorStream(true);
      pb.environment().put("CRIA_RANK", "0");
      pb.environment().put("CRIA_WORLD_SIZE", "1");
      pb.environment().put("CRIA_MASTER_ADDR", "127.0.0.1");
      pb.environment().put("CRIA_MASTER_PORT", "29555");
      Process group = pb.start();
      String groupOut = new String(group.getInputStream().readAllBytes());
      assertThat(group.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(group.exitValue()).as(groupOut).isEqualTo(1);
      assertThat(groupOut).contains("is in use by another job");
    } finally {
      first.destroyForcibly().waitFor(30, TimeUnit.SECONDS); // SIGKILL: its lease stays behind
    }
    assertThat(run.resolve("lease.json")).exists();
    CliRun after = CliRun.of(args(run, "--max-steps", "30").toArray(String[]::new));
    assertThat(after.exitCode()).as(after.err()).isZero();
    assertThat(after.out()).contains("took over the lease of").contains("which is gone");
    assertThat(run.resolve("lease.json")).doesNotExist();
  }

  @Test
  void workersOfAKilledLauncherStopByThemselvesAndTheNextRunResumes() throws Exception {
    Path run = tmp.resolve("orphans");
    Process launcher =
        start(args(run, "--max-steps", "1000000", "--nproc", "2"), tmp.resolve("launcher.out"));
    List<RankStatus> workers = waitForTraining(run, 2);
    launcher.destroyForcibly(); // SIGKILL: no hook, no chance to stop its workers
    assertThat(launcher.waitFor(30, TimeUnit.SECONDS)).isTrue();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    List<Long> alive = new ArrayList<>();
    do {
      alive.clear();
      for (RankStatus w : workers) {
        if (ProcessHandle.of(w.pid()).map(ProcessHandle::isAlive).orElse(false)) {
          alive.add(w.pid());
        }
      }
      Thread.sleep(100);
    } while (!alive.isEmpty() && System.nanoTime() < deadline);
    alive.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    assertThat(alive).as("workers still running 10 s after their launcher was killed").isEmpty();

    List<Path> saved = Checkpoints.list(run);
    assertThat(saved).isNotEmpty();
    Checkpoint newest = Checkpoint.open(saved.getLast()).verify();
    // each stopped after its current step, as on SIGTERM, with a checkpoint of that step
    assertThat(Files.readString(run.resolve("0/log")))
        .contains("stopped after step " + newest.step() + " of 1000000");

    CliRun again =
        CliRun.of(
            args(run, "--max-steps", Long.toString(newest.step() + 2), "--nproc", "2")
                .toArray(String[]::new));
    assertThat(again.exitCode()).as(again.out() + again.err()).isZero();
    assertThat(again.out()).contains("resumed from " + saved.getLast());
    Optional<Path> last = Checkpoints.list(run).stream().reduce((a, b) -> b);
    assertThat(last).hasValue(Checkpoints.stepDirectory(run, newest.step() + 2));
  }
}
