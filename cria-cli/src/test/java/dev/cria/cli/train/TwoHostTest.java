package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two hosts: two network namespaces joined by a veth pair, one worker in each, training over their
 * own addresses; then the link is cut mid-run and both fail within the timeout. Needs root and
 * iproute2 ({@code ip netns}); skipped, saying so, elsewhere.
 */
class TwoHostTest {
  private static final String HOST_A = "10.231.7.1";
  private static final String HOST_B = "10.231.7.2";
  @TempDir Path tmp;
  private final String a = "cria-a-" + ProcessHandle.current().pid();
  private final String b = "cria-b-" + ProcessHandle.current().pid();
  private final String vethA = "cva" + ProcessHandle.current().pid() % 100000;
  private final String vethB = "cvb" + ProcessHandle.current().pid() % 100000;
  private SmallCorpus corpus;

  @BeforeEach
  void network() throws Exception {
    assumeTrue(
        Files.isExecutable(Path.of("/usr/sbin/ip")) || Files.isExecutable(Path.of("/sbin/ip")),
        "skipped: iproute2 (ip) is absent");
    assumeTrue(
        run("ip", "netns", "add", a) == 0,
        "skipped: cannot create network namespaces (needs root)");
    run("ip", "netns", "add", b);
    assumeTrue(
        run("ip", "link", "add", vethA, "type", "veth", "peer", "name", vethB) == 0,
        "skipped: cannot create a veth pair here");
    must("ip", "link", "set", vethA, "netns", a);
    must("ip", "link", "set", vethB, "netns", b);
    must("ip", "-n", a, "addr", "add", HOST_A + "/24", "dev", vethA);
    must("ip", "-n", b, "addr", "add", HOST_B + "/24", "dev", vethB);
    for (String[] ns : new String[][] {{a, vethA}, {b, vethB}}) {
      must("ip", "-n", ns[0], "link", "set", ns[1], "up");
      must("ip", "-n", ns[0], "link", "set", "lo", "up");
    }
    corpus = SmallCorpus.prepareIn(tmp);
  }

  @AfterEach
  void cleanUp() throws Exception {
    run("ip", "netns", "del", a);
    run("ip", "netns", "del", b);
  }

  @Test
  void workersOnTwoHostsTrainAndACutLinkFailsBothWithinTheTimeout() throws Exception {
    Path runDir = tmp.resolve("run");
    Process rank0 = worker(a, 0, runDir, "8", tmp.resolve("rank0.out"));
    Process rank1 = worker(b, 1, runDir, "8", tmp.resolve("rank1.out"));
    assertThat(rank0.waitFor(180, TimeUnit.SECONDS)).isTrue();
    assertThat(rank1.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(rank0.exitValue()).as(Files.readString(tmp.resolve("rank0.out"))).isZero();
    assertThat(rank1.exitValue()).as(Files.readString(tmp.resolve("rank1.out"))).isZero();
    assertThat(Files.readString(tmp.resolve("rank0.out"))).contains("done: 8 step(s)");
    assertThat(Files.readString(runDir.resolve("1/log"))).contains("rank 1 of 2");

    Path cut = tmp.resolve("cut");
    Process c0 = worker(a, 0, cut, "100000", tmp.resolve("cut0.out"));
    Process c1 = worker(b, 1, cut, "100000", tmp.resolve("cut1.out"));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (steps(cut.resolve("1/log")) < 3 && c1.isAlive() && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertThat(steps(cut.resolve("1/log")))
        .as(Files.readString(tmp.resolve("cut1.out")))
        .isGreaterThanOrEqualTo(3);
    long cutAt = System.nanoTime();
    must("ip", "-n", a, "link", "set", vethA, "down");
    assertThat(c0.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(c1.waitFor(60, TimeUnit.SECONDS)).isTrue();
    double seconds = (System.nanoTime() - cutAt) / 1e9;
    String out0 = Files.readString(tmp.resolve("cut0.out"));
    String out1 = Files.readString(tmp.resolve("cut1.out"));
    assertThat(c0.exitValue()).as(out0).isEqualTo(1);
    assertThat(c1.exitValue()).as(out1).isEqualTo(1);
    assertThat(out0).contains("cria: rank 0: ").contains("rank 1");
    assertThat(out1).contains("cria: rank 1: ").contains("rank 0");
    assertThat(seconds).as("both failed this long after the cut").isLessThan(40);
  }

  private Process worker(String namespace, int rank, Path runDir, String steps, Path output)
      throws IOException {
    List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", namespace));
    command.addAll(SmallCorpus.criaJvm());
    command.addAll(
        corpus.args(
            "worker",
            runDir,
            "--lr",
            "1e-3",
            "--global-batch",
            "8",
            "--val-interval",
            "0",
            "--val-batches",
            "1",
            "--threads",
            "1",
            "--max-steps",
            steps,
            "--timeout",
            "5",
            "--join-timeout",
            "60",
            // the two network namespaces share this host's /dev/shm: the TCP ring is the subject
            "--collective",
            "tcp"));
    ProcessBuilder pb =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile());
    pb.environment().put("CRIA_RANK", Integer.toString(rank));
    pb.environment().put("CRIA_WORLD_SIZE", "2");
    pb.environment().put("CRIA_MASTER_ADDR", HOST_A);
    pb.environment().put("CRIA_MASTER_PORT", "29517");
    pb.environment().put("CRIA_JOB_SECRET", "the two hosts' job secret, 32+ bytes");
    return pb.start();
  }

  private static long steps(Path log) throws IOException {
    if (!Files.exists(log)) {
      return 0;
    }
    try (Stream<String> lines = Files.lines(log)) {
      return lines.filter(l -> l.contains("] step ")).count();
    }
  }

  private static int run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    return p.waitFor();
  }

  private static void must(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (p.waitFor() != 0) {
      throw new AssertionError(String.join(" ", command) + " failed: " + out);
    }
  }
}
