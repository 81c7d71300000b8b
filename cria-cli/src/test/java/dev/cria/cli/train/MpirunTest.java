package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.cli.CliRun;
import dev.cria.cli.Main;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mpirun -np 2 cria worker ...} with Debian's Open MPI on localhost: the workers take their
 * ranks from Open MPI's variables and train as one process would. Skipped where mpirun is absent
 * ({@code .ci/run} installs openmpi-bin).
 */
class MpirunTest {
  @TempDir Path tmp;

  private static final List<String> MODEL = List.of("--hidden-size", "32", "--layers", "2", "--heads", "2",
      "--max-seq-len", "32", "--seq-len", "32", "--micro-batch", "2", "--global-batch", "8", "--split", "98,2,0",
      "--lr", "1e-2", "--warmup-steps", "2", "--val-interval", "0", "--val-batches", "1", "--threads", "1",
      "--max-steps", "6");

  @Test
  void twoRanksUnderMpirunTrainAsOneProcess() throws Exception {
    Path mpirun = Path.of("/usr/bin/mpirun");
    assumeTrue(Files.isExecutable(mpirun), "skipped: /usr/bin/mpirun is absent (install openmpi-bin)");
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp);
    List<String> data = List.of("--tokenizer", corpus.tokenizer().toString(), "--data-prefix",
        corpus.prefix().toString());

    List<String> single = new ArrayList<>(List.of("train", "--run-dir", tmp.resolve("one").toString()));
    single.addAll(data);
    single.addAll(MODEL);
    CliRun one = CliRun.of(single.toArray(String[]::new));
    assertThat(one.exitCode()).as(one.err()).isZero();

    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    List<String> command = new ArrayList<>(List.of(mpirun.toString(), "--allow-run-as-root", "--oversubscribe",
        "-np", "2", "-x", "CRIA_MASTER_PORT=" + port,
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--add-modules", "jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Main.class.getName(),
        "worker", "--run-dir", tmp.resolve("mpi").toString()));
    command.addAll(data);
    command.addAll(MODEL);
    Path output = tmp.resolve("mpirun.out");
    Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
    assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
    String out = Files.readString(output);
    assertThat(p.exitValue()).as(out).isZero();
    assertThat(Files.readString(tmp.resolve("mpi/1/log"))).contains("rank 1 of 2");
    assertThat(finalLoss(out)).isCloseTo(finalLoss(one.out()), org.assertj.core.data.Offset.offset(2e-3));
  }

  private static double finalLoss(String out) {
    Matcher m = Pattern.compile("done: \\d+ step\\(s\\) in \\S+: loss ([\\d.]+)").matcher(out);
    assertThat(m.find()).as(out).isTrue();
    return Double.parseDouble(m.group(1));
  }
}
