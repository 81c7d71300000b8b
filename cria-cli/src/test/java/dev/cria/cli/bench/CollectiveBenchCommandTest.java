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
  }

  private static double number(String json, String key) {
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("\"" + key + "\":([0-9.eE+-]+)").matcher(json);
    assertThat(m.find()).as(json).isTrue();
    return Double.parseDouble(m.group(1));
  }
}
