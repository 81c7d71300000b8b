package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.train.checkpoint.Checkpoint;
import dev.cria.train.checkpoint.Checkpoints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training process killed with SIGKILL (no shutdown hook, no last save), then run again with the
 * same command: it resumes from its newest checkpoint and logs the same losses, bit for bit, as the
 * run that was never interrupted, and ends with the same model bytes.
 */
class ResumeCommandTest {
  private static final int STEPS = 400;
  @TempDir static Path tmp;
  static SmallCorpus corpus;

  @BeforeAll
  static void prepareData() {
    corpus = SmallCorpus.prepareIn(tmp);
  }

  private static List<String> command(Path runDir) {
    return corpus.args(
        "train",
        runDir,
        "--global-batch",
        "4",
        "--threads",
        "1",
        "--max-steps",
        Integer.toString(STEPS),
        "--save-interval",
        "10",
        "--val-interval",
        "100",
        "--val-batches",
        "1",
        "--log-interval",
        "100");
  }

  /** reduced_train_loss by step over all of a run's event files, the newest file winning a step. */
  static TreeMap<Long, Float> losses(Path runDir) throws IOException {
    return PyTorchCurveTest.scalars(runDir).getOrDefault("reduced_train_loss", new TreeMap<>());
  }

  @Test
  void aRunKilledWithSigkillResumesWithTheUninterruptedLossesBitForBit() throws Exception {
    Path straight = tmp.resolve("straight");
    CliRun uninterrupted = CliRun.of(command(straight).toArray(String[]::new));
    assertThat(uninterrupted.exitCode()).as(uninterrupted.err()).isZero();

    Path killed = tmp.resolve("killed");
    List<String> jvm = SmallCorpus.criaJvm();
    jvm.addAll(command(killed));
    Process p =
        new ProcessBuilder(jvm)
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("killed.out").toFile())
            .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (TrainCommandTest.stepLines(killed.resolve("0/log")) < 35
        && p.isAlive()
        && System.nanoTime() < deadline) {
      Thread.sleep(2);
    }
    p.destroyForcibly(); // SIGKILL: no hook runs, nothing is saved on the way out
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(Files.readString(tmp.resolve("killed.out"))).isEqualTo(137);
    long reached = TrainCommandTest.stepLines(killed.resolve("0/log"));
    List<Path> saved = Checkpoints.list(killed);
    assertThat(reached).as("killed before the end").isLessThan(STEPS);
    assertThat(saved).isNotEmpty();
    long resumeAt = Checkpoints.stepOf(saved.getLast());

    CliRun resumed = CliRun.of(command(killed).toArray(String[]::new));
    assertThat(resumed.exitCode()).as(resumed.err()).isZero();
    assertThat(resumed.out())
        .contains(
            "resumed from " + saved.getLast() + ": step " + resumeAt,
            "done: " + STEPS + " step(s)");

    TreeMap<Long, Float> expected = losses(straight);
    TreeMap<Long, Float> actual = losses(killed);
    assertThat(expected).hasSize(STEPS);
    assertThat(actual.keySet()).isEqualTo(expected.keySet());
    for (long s = 1; s <= STEPS; s++) {
      assertThat(Float.floatToRawIntBits(actual.get(s)))
          .as("step %d (resumed at %d, killed after %d)", s, resumeAt, reached)
          .isEqualTo(Float.floatToRawIntBits(expected.get(s)));
    }
    // a new run branched from one of the killed run's checkpoints goes on as the original did
    Path branch = tmp.resolve("branch");
    Path older = Checkpoints.list(killed).getFirst(); // keep_last 2: the one before the last
    String[] branchCommand = {
      "train",
      "--resume-from",
      older.toString(),
      "--run-dir",
      branch.toString(),
      "--max-steps",
      Integer.toString(STEPS)
    };
    CliRun branched = CliRun.of(branchCommand);
    assertThat(branched.exitCode()).as(branched.err()).isZero();
    long branchedAt = Checkpoints.stepOf(older);
    assertThat(branchedAt).isEqualTo(STEPS - 10);
    assertThat(branched.out()).contains("resumed from " + older + ": step " + branchedAt);
    TreeMap<Long, Float> fromBranch = losses(branch);
    assertThat(fromBranch.firstKey()).isEqualTo(branchedAt + 1);
    assertThat(fromBranch).isEqualTo(expected.tailMap(branchedAt, false));
    // the same branch command again would go back to `older` inside a run that went on: refused
    List<Path> branchCheckpoints = Checkpoints.list(branch);
    CliRun again = CliRun.of(branchCommand);
    assertThat(again.exitCode()).isEqualTo(1);
    assertThat(again.err())
        .contains(
            "--run-dir " + branch + " already holds a run with checkpoints (the newest step-",
            "cria train --run-dir " + branch + " without --resume-from",
            "--overwrite");
    // the same when a config file names the run directory
    Path named = tmp.resolve("branch.yaml");
    Files.writeString(named, "run_dir: " + branch + "\n");
    CliRun byFile =
        CliRun.of("train", "--config", named.toString(), "--resume-from", older.toString());
    assertThat(byFile.exitCode()).isEqualTo(1);
    assertThat(byFile.err()).contains("already holds a run with checkpoints");
    assertThat(Checkpoints.list(branch)).isEqualTo(branchCheckpoints);
    assertThat(losses(branch)).isEqualTo(fromBranch);
    // a checkpoint of the run itself, through a symbolic link, is its own history
    Path link = Files.createSymbolicLink(tmp.resolve("link"), branch);
    CliRun own =
        CliRun.of(
            "train",
            "--check",
            "--resume-from",
            link.resolve("checkpoints")
                .resolve(branchCheckpoints.getLast().getFileName())
                .toString(),
            "--run-dir",
            branch.toString());
    assertThat(own.exitCode()).as(own.err()).isZero();
    CliRun nowhere =
        CliRun.of(
            "train",
            "--resume-from",
            tmp.resolve("nothing").toString(),
            "--run-dir",
            tmp.resolve("nothing-run").toString());
    assertThat(nowhere.exitCode()).isEqualTo(1);
    assertThat(nowhere.err()).contains(tmp.resolve("nothing").toString());

    Checkpoint a = Checkpoint.open(Checkpoints.stepDirectory(straight, STEPS));
    Checkpoint b = Checkpoint.open(Checkpoints.stepDirectory(killed, STEPS));
    assertThat(b.manifest().files().get("model.safetensors"))
        .isEqualTo(a.manifest().files().get("model.safetensors"));
    assertThat(b.manifest().files().get("optimizer/rank-00000-of-00001.safetensors"))
        .isEqualTo(a.manifest().files().get("optimizer/rank-00000-of-00001.safetensors"));
  }
}
