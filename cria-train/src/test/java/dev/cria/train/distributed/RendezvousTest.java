package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * Only the job's own ranks join: strangers that stay silent, send garbage or a wrong proof are
 * dropped and logged while the job joins; two jobs on one port never mix; a stop ends a join at
 * once; the rendezvous listens on the master address only.
 */
class RendezvousTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(20);

  private static int freePort() throws IOException {
    return LocalRanks.freePort();
  }

  /** A sum over two ranks that only works when both are the job's own. */
  private static float sumOfRanks(Collective c) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(Float.BYTES);
      s.set(ValueLayout.JAVA_FLOAT, 0, c.rank() + 1);
      c.allReduceSum(s, 1);
      return s.get(ValueLayout.JAVA_FLOAT, 0);
    }
  }

  /** Rank {@code rank} of a 2-rank job on {@code port}, joining on {@code pool}: its sum. */
  private static Future<Float> joining(
      ExecutorService pool, int rank, int port, JobKey key, JoinSettings settings) {
    return pool.submit(() -> {
      try (Collective c =
          Collectives.join(
              new RankEnvironment(rank, 2, rank, "127.0.0.1", port), Optional.of(key), settings)) {
        return sumOfRanks(c);
      }
    });
  }

  @Test
  void silentGarbageAndWrongSecretStrangersAreDroppedAndLoggedWhileTheJobJoins() throws Exception {
    int port = freePort();
    JobKey key = JobKey.generate("job-a");
    List<String> log = new CopyOnWriteArrayList<>();
    JoinSettings settings =
        JoinSettings.of(TIMEOUT, TIMEOUT)
            .withKind(CollectiveKind.TCP)
            .withHandshakeTimeout(Duration.ofMillis(500))
            .withLog(log::add);
    ExecutorService pool = Executors.newCachedThreadPool();
    try {
      // rank 0 listens first
      Future<Float> rank0 = joining(pool, 0, port, key, settings);
      Strangers strangers = Strangers.knock(port);
      Strangers.awaitRefusals(log); // the silent one after its 0.5 s
      Future<Float> rank1 = joining(pool, 1, port, key, settings);
      assertThat(rank0.get(30, TimeUnit.SECONDS)).isEqualTo(3f);
      assertThat(rank1.get(30, TimeUnit.SECONDS)).isEqualTo(3f);
      strangers.close();
    } finally {
      pool.shutdownNow();
    }
    assertThat(String.join("\n", log)).doesNotContain(key.secretForChildEnvironment());
  }

  @Test
  void aRankOfAnotherJobOnTheSamePortIsRefusedAndTheJobGoesOn() throws Exception {
    int port = freePort();
    JobKey a = JobKey.generate("job-a");
    JobKey sameSecretOtherJob = JobKey.of(new byte[32], "job-b");
    List<String> log = new CopyOnWriteArrayList<>();
    JoinSettings settings = JoinSettings.of(TIMEOUT, TIMEOUT).withLog(log::add);
    ExecutorService pool = Executors.newCachedThreadPool();
    try {
      Future<Float> rank0 = joining(pool, 0, port, a, settings);
      for (JobKey other : List.of(JobKey.generate("job-a"), sameSecretOtherJob)) {
        assertThatThrownBy(() ->
                Collectives.join(
                    new RankEnvironment(1, 2, 1, "127.0.0.1", port),
                    Optional.of(other),
                    JoinSettings.of(Duration.ofSeconds(10), TIMEOUT)))
            .isInstanceOf(CollectiveException.class)
            .hasMessageContaining("rank 1: rank 0 at")
            .hasMessageContaining("did not accept this rank's proof of the job secret");
      }
      try (Collective c =
          Collectives.join(
              new RankEnvironment(1, 2, 1, "127.0.0.1", port), Optional.of(a), settings)) {
        assertThat(sumOfRanks(c)).isEqualTo(3f);
      }
      assertThat(rank0.get(30, TimeUnit.SECONDS)).isEqualTo(3f);
      assertThat(log).filteredOn(l -> l.contains("does not prove this job's secret")).hasSize(2);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aGroupOfSeveralRanksWithoutASecretIsRefusedSayingHowToSetOne() {
    assertThatThrownBy(() ->
            Collectives.join(
                new RankEnvironment(0, 2, 0, "127.0.0.1", 29500),
                Optional.empty(),
                JoinSettings.of(TIMEOUT, TIMEOUT)))
        .hasMessageContaining("needs a job secret")
        .hasMessageContaining("CRIA_JOB_SECRET");
  }

  @Test
  void aStopEndsTheJoinAtOnce() throws Exception {
    int port = freePort();
    AtomicBoolean stop = new AtomicBoolean();
    ExecutorService pool = Executors.newCachedThreadPool();
    try {
      for (int rank : new int[] {0, 1}) {
        stop.set(false);
        Future<?> joining =
            pool.submit(() ->
                Collectives.join(
                    new RankEnvironment(rank, 2, rank, "127.0.0.1", port),
                    Optional.of(JobKey.generate("j")),
                    JoinSettings.of(Duration.ofMinutes(5), TIMEOUT).withStop(stop::get)));
        Thread.sleep(300);
        stop.set(true);
        // a liveness bound far above an honest stop (which takes milliseconds): the join itself
        // would wait 5 minutes, so a stop that is not honoured times out here
        assertThatThrownBy(() -> joining.get(5, TimeUnit.SECONDS))
            .as("rank %d", rank)
            .hasCauseInstanceOf(JoinStopped.class);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void theRendezvousListensOnTheMasterAddressOnly() throws Exception {
    String other = nonLoopbackAddress();
    org.junit.jupiter.api.Assumptions.assumeTrue(
        other != null, "skipped: this host has no address besides loopback");
    int port = freePort();
    ExecutorService pool = Executors.newCachedThreadPool();
    try {
      Future<?> rank0 =
          pool.submit(() ->
              Collectives.join(
                  new RankEnvironment(0, 2, 0, "127.0.0.1", port),
                  Optional.of(JobKey.generate("j")),
                  JoinSettings.of(Duration.ofSeconds(5), TIMEOUT)));
      Strangers.connectWhenListening(port).close(); // listening on loopback
      assertThatThrownBy(() -> new Socket(other, port).close()).isInstanceOf(IOException.class);
      rank0.cancel(true);
    } finally {
      pool.shutdownNow();
    }
  }

  private static String nonLoopbackAddress() throws IOException {
    for (var nic : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
      if (!nic.isUp() || nic.isLoopback()) {
        continue;
      }
      for (var a : java.util.Collections.list(nic.getInetAddresses())) {
        if (a instanceof java.net.Inet4Address) {
          return a.getHostAddress();
        }
      }
    }
    return null;
  }
}
