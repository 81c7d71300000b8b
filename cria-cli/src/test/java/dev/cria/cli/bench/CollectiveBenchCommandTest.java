package dev.cria.cli.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.cli.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code cria bench collective}: worker processes per transport, a line per operation and size, the
 * bandwidths as nccl-tests computes them, and clear refusals.
 */
class CollectiveBenchCommandTest {
  @ParameterizedTest
  @ValueSource(strings = {"shm,tcp", "mpi"})
  void jsonHasOneObjectPerTransportOperationAndSizeWithNcclTestsBandwidths(String transports) {
    if (transports.equals("mpi")) {
      assumeTrue(
          Files.isExecutable(Path.of("/usr/bin/mpirun")),
          "skipped: /usr/bin/mpirun is absent (install openmpi-bin)");
    }
    List<String> kinds = List.of(transports.split(","));
    CliRun run =
        CliRun.of(
            "bench",
            "collective",
            "--nproc",
            "2",
            "--collective",
            transports,
            "--sizes",
            "4,64K",
            "--json");
    assertThat(run.exitCode()).as(run.err()).isZero();
    List<String> lines = run.out().lines().toList();
    assertThat(lines).hasSize(kinds.size() * 3 * 2).allMatch(l -> l.startsWith("{\"collective\":"));
    for (String kind : kinds) {
      for (String op : List.of("all-reduce", "reduce-scatter", "all-gather")) {
        assertThat(lines)
            .anyMatch(l ->
                l.contains("\"collective\":\"" + kind + "\"")
                    && l.contains("\"operation\":\"" + op + "\"")
                    && l.contains("\"bytes\":65536")
                    && l.contains("\"ranks\":2"));
      }
    }
    // bus bandwidth: all-reduce x 2(n-1)/n = x1, the others x (n-1)/n = x0.5, for 2 ranks
    for (String l : lines) {
      double alg = number(l, "algbw_gbps");
      double bus = number(l, "busbw_gbps");
      double factor = l.contains("all-reduce") ? 1.0 : 0.5;
      assertThat(bus).as(l).isCloseTo(alg * factor, org.assertj.core.data.Offset.offset(2e-4));
      assertThat(number(l, "seconds")).as(l).isPositive();
    }
  }

  @Test
  void theTableNamesEachTransportAndBadSizesAreRefused() {
    CliRun run = CliRun.of("bench", "collective", "--collective", "shm", "--sizes", "4,1K");
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out())
        .contains("collectives between 2 ranks on this machine")
        .containsPattern("shm\\s+all-reduce\\s+1 KiB\\s+\\d+\\.\\d")
        .containsPattern("shm\\s+all-gather\\s+4 B");
    CliRun odd = CliRun.of("bench", "collective", "--sizes", "6");
    assertThat(odd.exitCode()).isNotZero();
    assertThat(odd.err()).contains("--sizes: size '6' must be a positive multiple of 4 bytes");
    CliRun alone = CliRun.of("bench", "collective", "--nproc", "1");
    assertThat(alone.err()).contains("--nproc must be at least 2");
    for (String name : List.of("nccl", "auto")) {
      CliRun unknown = CliRun.of("bench", "collective", "--collective", name, "--sizes", "4");
      assertThat(unknown.exitCode()).isNotZero();
      assertThat(unknown.err())
          .contains(
              "--collective " + name + ": name the transports to compare (shm, tcp, mpi) or all");
    }
  }

  @Test
  void aModelsTensorParallelSizesAreTimedAndOneMicroBatchAddedUp() {
    CliRun run =
        CliRun.of(
            "bench",
            "collective",
            "--collective",
            "shm",
            "--model",
            "tiny",
            "--seq-len",
            "16",
            "--sequence-parallel");
    assertThat(run.exitCode()).as(run.err()).isZero();
    // the residual of 16 tokens x 288 floats, and a norm weight's gradient of 288 floats
    assertThat(run.out())
        .containsPattern("shm\\s+reduce-scatter\\s+18 KiB")
        .containsPattern("shm\\s+all-reduce\\s+1152 B");
    dev.cria.engine.model.GroupTraffic traffic =
        dev.cria.engine.model.GroupTraffic.of(
            dev.cria.engine.model.LlamaConfig.preset("tiny"),
            1,
            16,
            2,
            true,
            false,
            dev.cria.engine.model.Precision.FP32);
    assertThat(run.out())
        .contains(
            "one micro-batch's pass of tiny (1 x 16 tokens) split 2 ways, sequence-parallel: "
                + traffic.calls()
                + " collectives");
    // the total is each collective's count times its row's time
    double expected = 0;
    for (dev.cria.engine.model.GroupTraffic.Collectives c : traffic.collectives()) {
      java.util.regex.Matcher row =
          java.util.regex.Pattern.compile(
                  "shm\\s+"
                      + c.operation()
                      + "\\s+"
                      + (c.bytes() % 1024 == 0 ? c.bytes() / 1024 + " KiB" : c.bytes() + " B")
                      + "\\s+([0-9.]+)")
              .matcher(run.out());
      assertThat(row.find()).as("%s of %d bytes", c.operation(), c.bytes()).isTrue();
      expected += c.count() * Double.parseDouble(row.group(1)) / 1e3;
    }
    java.util.regex.Matcher total =
        java.util.regex.Pattern.compile("\n  shm\\s+([0-9.]+) ms").matcher(run.out());
    assertThat(total.find()).as(run.out()).isTrue();
    // each row printed to 0.1 us: the sum of the rounded rows is off by up to 0.05 us a call
    assertThat(Double.parseDouble(total.group(1)))
        .isCloseTo(
            expected,
            org.assertj.core.data.Offset.offset(0.02 * expected + traffic.calls() * 0.05e-3));
    CliRun four = CliRun.of("bench", "collective", "--model", "tiny", "--nproc", "4");
    assertThat(four.exitCode()).isNotZero();
    assertThat(four.err())
        .contains("--model with --nproc 4: tensor parallelism 4 does not divide the model's 6");
  }

  private static double number(String json, String key) {
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("\"" + key + "\":([0-9.eE+-]+)").matcher(json);
    assertThat(m.find()).as(json).isTrue();
    return Double.parseDouble(m.group(1));
  }
}
