package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.core.run.RankState;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import dev.cria.engine.parallel.CollectiveException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link PeerWatch} judges its peers from the status files they keep, in a clock the test controls:
 * failed at once, silent after its bound, stuck (alive, behind the others' collective) after a
 * bound that grows with the step time, a straggler reported and never stopped.
 */
class PeerWatchTest {
  private static final long SECOND = 1_000_000_000L;
  private static final PeerWatch.Bounds BOUNDS =
      PeerWatch.Bounds.defaults(Duration.ofSeconds(5), Duration.ofMinutes(30));

  @TempDir Path run;
  private final List<String> log = new ArrayList<>();

  /** Rank 0 of 2, which has entered {@code entered} collective operations. */
  private PeerWatch watch(long entered) {
    CountedCollective group = CountedCollective.of(new FakeGroup(0, 2));
    for (long i = 0; i < entered; i++) {
      group.barrier();
    }
    return PeerWatch.unstarted(run, group, BOUNDS, log::add);
  }

  /** Rank 1's status file, elsewhere (so its pid is not looked up here). */
  private void peer(RankState state, long updatedAt, long collectives, double stepSeconds)
      throws IOException {
    peer(state, updatedAt, collectives, stepSeconds, null, "elsewhere", 4242);
  }

  private void peer(
      RankState state,
      long updatedAt,
      long collectives,
      double stepSeconds,
      String error,
      String host,
      long pid)
      throws IOException {
    StatusFiles.write(
        run,
        new RankStatus(
            "run",
            1,
            2,
            host,
            pid,
            state,
            7,
            100,
            2.5,
            1e-3,
            100,
            0.1,
            stepSeconds,
            0.01,
            0,
            0,
            0.5,
            1,
            updatedAt,
            collectives,
            error,
            null,
            null,
            null,
            5.0));
  }

  @Test
  void aFailedPeerIsJudgedAtOnceWithItsError() throws IOException {
    PeerWatch w = watch(10);
    peer(RankState.TRAINING, 1000, 9, 0.1);
    assertThat(w.look(1)).isEmpty();
    peer(RankState.FAILED, 1001, 9, 0.1, "No space left on device", "elsewhere", 4242);
    assertThat(w.look(2)).contains("rank 1 failed: No space left on device");
    assertThat(w.explain()).isEqualTo("rank 1 failed: No space left on device");
  }

  @Test
  void aPeerThatFailsBeforeTheFirstLookIsStillJudgedAndNamed() throws IOException {
    PeerWatch w = watch(10); // rank 1 has written nothing yet
    peer(RankState.FAILED, 1000, 3, Double.NaN, "an early fault", "elsewhere", 4242);
    assertThat(w.explain()).isEqualTo("rank 1 failed: an early fault");
    assertThat(w.look(1)).contains("rank 1 failed: an early fault");
  }

  @Test
  void aFailureLeftByTheRunBeforeCountsOnlyOnceThePeerHasWrittenAgain() throws IOException {
    // resuming a run that failed: rank 1's file still says how the last run ended
    peer(RankState.FAILED, 1000, 9, 0.1, "the last run's error", "elsewhere", 4242);
    PeerWatch w = watch(10);
    // a failed collective's message does not blame the last run's error either, looked or not
    assertThat(w.explain()).isEmpty();
    long t0 = System.nanoTime();
    assertThat(w.look(t0)).isEmpty();
    assertThat(w.look(t0 + SECOND)).isEmpty();
    assertThat(w.explain()).isEmpty();
    peer(RankState.STARTING, 2000, 0, Double.NaN); // this run's rank 1 writes its own
    assertThat(w.look(t0 + 2 * SECOND)).isEmpty();
    peer(RankState.FAILED, 3000, 3, Double.NaN, "this run's error", "elsewhere", 4242);
    assertThat(w.look(t0 + 3 * SECOND)).contains("rank 1 failed: this run's error");
    assertThat(w.explain()).isEqualTo("rank 1 failed: this run's error");
  }

  @Test
  void aPeerWhoseStatusStopsChangingIsSilentAfterSixHeartbeats() throws IOException {
    PeerWatch w = watch(10);
    long t0 = System.nanoTime();
    peer(RankState.TRAINING, 1000, 10, 0.1);
    assertThat(w.look(t0)).isEmpty();
    peer(RankState.TRAINING, 2000, 10, 0.1); // a heartbeat
    assertThat(w.look(t0 + 5 * SECOND)).isEmpty();
    // then nothing: silent 29 s after the last change is still fine, 30 s is not
    assertThat(w.look(t0 + 34 * SECOND)).isEmpty();
    Optional<String> v = w.look(t0 + 35 * SECOND);
    assertThat(v).get().asString().startsWith("rank 1 (pid 4242 on elsewhere) stopped answering:");
    assertThat(v.get()).contains("has not changed for 30 s", "at step 7, training", "SIGSTOP");
  }

  @Test
  void aLivePeerBehindTheOthersCollectiveIsStuckAfterTenStepsOrAMinute() throws IOException {
    long t0 = System.nanoTime();
    // steps of 0.1 s: the floor, 60 s
    PeerWatch fast = watch(12);
    for (int s = 0; s <= 60; s += 5) {
      peer(RankState.TRAINING, 1000 + s, 11, 0.1); // heartbeats, but always at operation 11
      Optional<String> v = fast.look(t0 + s * SECOND);
      if (s < 60) {
        assertThat(v).as("at %d s", s).isEmpty();
      } else {
        assertThat(v).get().asString().contains("rank 1 (pid 4242 on elsewhere) is stuck");
        assertThat(v.get()).contains("for 60 s", "allowed 60 s");
      }
    }
    // it was reported as a possible straggler first, once
    assertThat(log).singleElement().asString().startsWith("waiting for rank 1 for 15 s");
    // steps of 12 s: ten of them, 120 s
    log.clear();
    PeerWatch slow = watch(12);
    for (int s = 0; s <= 120; s += 5) {
      peer(RankState.TRAINING, 5000 + s, 11, 12.0);
      Optional<String> v = slow.look(t0 + s * SECOND);
      assertThat(v.isPresent()).as("at %d s", s).isEqualTo(s >= 120);
    }
  }

  @Test
  void aStragglerThatMovesIsNeverStopped() throws IOException {
    PeerWatch w = watch(1000);
    long t0 = System.nanoTime();
    // always behind this rank, but one operation further every 50 s: slow, not stuck
    for (int s = 0; s <= 600; s += 5) {
      peer(RankState.TRAINING, 1000 + s, 100 + s / 50, 0.1);
      assertThat(w.look(t0 + s * SECOND)).as("at %d s", s).isEmpty();
    }
    assertThat(log).isNotEmpty().allMatch(l -> l.contains("a straggler?"));
  }

  @ParameterizedTest
  @EnumSource(
      value = RankState.class,
      names = {"SAVING", "STARTING"})
  void aPeerThatSavesOrLoadsMayLagForTheCheckpointsPatience(RankState state) throws IOException {
    PeerWatch w = watch(12);
    long t0 = System.nanoTime();
    for (int s = 0; s <= 600; s += 5) {
      peer(state, 1000 + s, 11, 0.1); // rank 0 writing the model alone, or reading its share
      assertThat(w.look(t0 + s * SECOND)).as("at %d s", s).isEmpty();
    }
    peer(state, 9999, 11, 0.1);
    assertThat(w.look(t0 + TimeUnit.MINUTES.toNanos(30))).get().asString().contains("is stuck");
  }

  @Test
  void aPeerThatEndedNormallyIsNotJudged() throws IOException {
    PeerWatch w = watch(12);
    peer(RankState.FINISHED, 1000, 11, 0.1);
    assertThat(w.look(System.nanoTime() + TimeUnit.HOURS.toNanos(1))).isEmpty();
  }

  @Test
  void aPeerOnThisHostWhoseProcessIsGoneIsNamedAfterTwoHeartbeats() throws Exception {
    Process p = new ProcessBuilder("true").start();
    p.waitFor();
    String host = java.net.InetAddress.getLocalHost().getHostName();
    PeerWatch w = watch(12);
    long t0 = System.nanoTime();
    peer(RankState.TRAINING, 1000, 11, 0.1, null, host, p.pid());
    assertThat(w.look(t0)).isEmpty();
    assertThat(w.explain()).isEqualTo("rank 1 (pid " + p.pid() + ") is gone after step 7");
    assertThat(w.look(t0 + 10 * SECOND))
        .get()
        .asString()
        .startsWith("rank 1 (pid " + p.pid() + " on this host) is gone");
  }

  @Test
  void aRankThatNeverWritesAStatusIsSilentToo() {
    PeerWatch w = watch(3);
    assertThat(w.look(System.nanoTime() + 31 * SECOND))
        .get()
        .asString()
        .startsWith("rank 1 stopped answering: it has written no status");
  }

  @Test
  void eachRankWatchesAllOthersUpToSixteenElseAFewAndEveryoneIsWatched() {
    assertThat(PeerWatch.watched(2, 4)).containsExactly(0, 1, 3);
    assertThat(PeerWatch.watched(0, 1)).isEmpty();
    int world = 256;
    Set<Integer> watchedBySomeone = new HashSet<>();
    for (int r = 0; r < world; r++) {
      int[] peers = PeerWatch.watched(r, world);
      assertThat(peers.length).isLessThanOrEqualTo(16);
      assertThat(peers).doesNotContain(r);
      for (int q : peers) {
        watchedBySomeone.add(q);
      }
    }
    assertThat(watchedBySomeone).hasSize(world);
    assertThat(PeerWatch.watched(0, world)).contains(1, 2, 4, 128, 255, 254, 252);
  }

  @Test
  void aFailedOperationWithoutAVerdictIsNamedFromThePeersStatusFiles() throws IOException {
    PeerWatch w = watch(3);
    CollectiveException left =
        new CollectiveException("rank 0: rank 1 left the group during barrier (it failed)");
    assertThat(w.named(left)).isSameAs(left);
    peer(RankState.FAILED, 2000, 3, 0.1, "disk full", "elsewhere", 4242);
    assertThat(w.named(left).getMessage())
        .isEqualTo(
            "rank 0: rank 1 left the group during barrier (it failed); rank 1 failed: disk full");
  }

  @Test
  void theWatchThreadAbortsTheGroupWithItsVerdict() throws Exception {
    FakeGroup fake = new FakeGroup(0, 2);
    CountedCollective group = CountedCollective.of(fake);
    peer(RankState.TRAINING, 1000, 0, 0.1);
    List<String> verdicts = new java.util.concurrent.CopyOnWriteArrayList<>();
    PeerWatch.Bounds quick =
        new PeerWatch.Bounds(
            Duration.ofMillis(20),
            Duration.ofMillis(100),
            Duration.ofSeconds(10), // silence is not what this test waits for
            Duration.ofSeconds(10),
            10,
            Duration.ofSeconds(1));
    try (PeerWatch w = PeerWatch.start(run, group, quick, log::add, verdicts::add)) {
      Thread.sleep(100); // the watch has seen rank 1 training
      peer(RankState.FAILED, 2000, 0, 0.1, "out of memory", "elsewhere", 1);
      long deadline = System.nanoTime() + 60 * SECOND;
      while (w.verdict().isEmpty() && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(w.verdict()).contains("rank 0: rank 1 failed: out of memory");
      // an operation that failed on its own in the same instant reports the verdict all the same
      CollectiveException left =
          new CollectiveException(
              "rank 0: rank 1 left the group during reduce-scatter (it failed)");
      assertThat(w.named(left).getMessage()).isEqualTo("rank 0: rank 1 failed: out of memory");
      assertThat(w.named(left).getCause()).isSameAs(left);
    }
    assertThat(verdicts).containsExactly("rank 0: rank 1 failed: out of memory");
    synchronized (fake) {
      assertThat(fake.aborts).containsExactly("rank 0: rank 1 failed: out of memory");
    }
  }

  @Test
  void boundsRefuseASilenceShorterThanTwoHeartbeats() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() ->
            new PeerWatch.Bounds(
                Duration.ofSeconds(1),
                Duration.ofSeconds(5),
                Duration.ofSeconds(9),
                Duration.ofSeconds(60),
                10,
                Duration.ofMinutes(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("silent >= two heartbeats");
  }
}
