package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.cli.CliRun;
import dev.cria.train.distributed.LocalRanks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mpirun -np 2 cria worker ...} with Debian's Open MPI on localhost: the workers take their
 * ranks from Open MPI's variables and train as one process would. Skipped where mpirun is absent
 * ({@code .ci/run} installs openmpi-bin).
 */
class MpirunTest {
  @TempDir Path tmp;

  private static final String[] RUN = {
    "--global-batch",
    "8",
    "--val-interval",
    "0",
    "--val-batches",
    "1",
    "--threads",
    "1",
    "--max-steps",
    "6"
  };

  @Test
  void twoRanksUnderMpirunTrainAsOneProcess() throws Exception {
    Path mpirun = Path.of("/usr/bin/mpirun");
    assumeTrue(
        Files.isExecutable(mpirun), "skipped: /usr/bin/mpirun is absent (install openmpi-bin)");
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp);
    CliRun one = CliRun.of(corpus.args("train", tmp.resolve("one"), RUN).toArray(String[]::new));
    assertThat(one.exitCode()).as(one.err()).isZero();

    Path output = tmp.resolve("mpirun.out");
    // Kubeflow Trainer's status variables, passed on as the TrainJob's launcher does (-x); the CA
    // file is missing, so rank 0's reports fail before any connection, and the run goes on
    Files.writeString(tmp.resolve("token"), "a-token");
    Map<String, String> trainer =
        Map.of(
            "KUBEFLOW_TRAINER_SERVER_URL", "https://127.0.0.1:9/apis/trainer.kubeflow.org/x",
            "KUBEFLOW_TRAINER_SERVER_CA_CERT", tmp.resolve("no-ca.crt").toString(),
            "KUBEFLOW_TRAINER_SERVER_TOKEN", tmp.resolve("token").toString());
    Process p = start(mpirun, corpus.args("worker", tmp.resolve("mpi"), RUN), output, trainer);
    assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
    String out = Files.readString(output);
    assertThat(p.exitValue()).as(out).isZero();
    // started by mpirun, the ranks use Open MPI's own collectives
    assertThat(Files.readString(tmp.resolve("mpi/1/log")))
        .contains("rank 1 of 2")
        .containsPattern("collectives: mpi \\(Open MPI v\\d")
        .doesNotContain("TrainJob");
    // rank 0 alone reports to the TrainJob, and its failing reports are warnings, not a failure
    assertThat(Files.readString(tmp.resolve("mpi/0/log")))
        .contains(
            "progress: reported to the TrainJob's status (Kubeflow Trainer, https://127.0.0.1:9/")
        .contains("warning: progress report to the TrainJob failed (NoSuchFileException: ")
        .contains("no-ca.crt");
    assertThat(SmallCorpus.finalLoss(out))
        .isCloseTo(SmallCorpus.finalLoss(one.out()), org.assertj.core.data.Offset.offset(2e-3));
  }

  @Test
  void fourRanksUnderMpirunAsTwoReplicasOfTwoSlicesTrainAsOneProcess() throws Exception {
    Path mpirun = Path.of("/usr/bin/mpirun");
    assumeTrue(
        Files.isExecutable(mpirun), "skipped: /usr/bin/mpirun is absent (install openmpi-bin)");
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp);
    CliRun one = CliRun.of(corpus.args("train", tmp.resolve("one"), RUN).toArray(String[]::new));
    assertThat(one.exitCode()).as(one.err()).isZero();
    Path output = tmp.resolve("mpirun.out");
    List<String> worker = new ArrayList<>(corpus.args("worker", tmp.resolve("mpi"), RUN));
    worker.addAll(List.of("--tensor-parallel", "2", "--sequence-parallel"));
    Process p = start(mpirun, 4, worker, output, Map.of());
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
    String out = Files.readString(output);
    assertThat(p.exitValue()).as(out).isZero();
    // each rank's tensor- and data-parallel groups are communicators split from Open MPI's world
    assertThat(Files.readString(tmp.resolve("mpi/3/log")))
        .contains("rank 3 of 4")
        .contains("tensor parallelism 2 (dp 2 x tp 2): this rank holds slice 1 of every layer")
        .containsPattern("its tensor-parallel group over mpi \\(Open MPI v\\d.*, 2 ranks\\)")
        .containsPattern("its data-parallel group over mpi \\(Open MPI v\\d.*, 2 ranks\\)");
    assertThat(SmallCorpus.finalLoss(out))
        .isCloseTo(SmallCorpus.finalLoss(one.out()), org.assertj.core.data.Offset.offset(2e-3));
  }

  /**
   * Starts {@code mpirun -np 2} of cria ({@code workerArgs}: {@code worker} and its flags) on this
   * host, with a job secret and a free rendezvous port, its output to {@code output}.
   */
  static Process start(Path mpirun, List<String> workerArgs, Path output) throws IOException {
    return start(mpirun, workerArgs, output, Map.of());
  }

  /** As above, with {@code env} set for mpirun and passed on to the ranks ({@code -x}). */
  static Process start(Path mpirun, List<String> workerArgs, Path output, Map<String, String> env)
      throws IOException {
    return start(mpirun, 2, workerArgs, output, env);
  }

  /** As above, with {@code ranks} ranks. */
  static Process start(
      Path mpirun, int ranks, List<String> workerArgs, Path output, Map<String, String> env)
      throws IOException {
    int port = LocalRanks.freePort();
    List<String> command =
        new ArrayList<>(
            List.of(
                mpirun.toString(),
                "--allow-run-as-root",
                "--oversubscribe",
                "-np",
                Integer.toString(ranks),
                "-x",
                "CRIA_MASTER_PORT=" + port,
                "-x",
                "CRIA_JOB_SECRET"));
    for (String name : env.keySet()) {
      command.addAll(List.of("-x", name));
    }
    command.addAll(SmallCorpus.criaJvm());
    command.addAll(workerArgs);
    ProcessBuilder pb =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile());
    pb.environment().put("CRIA_JOB_SECRET", "a test secret of this job, 32 bytes");
    pb.environment().putAll(env);
    return pb.start();
  }
}
