package dev.cria.core.run;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import org.junit.jupiter.api.Test;

/** What a status file lets a reader on the rank's host tell of its process, and a resume. */
class RankStatusTest {
  private static RankStatus on(String host, long pid, long startedAt, RankState state) {
    RankStatus s = StatusFilesTest.status(0, state, 7, 0.5, System.currentTimeMillis());
    return new RankStatus(
        s.run(),
        s.rank(),
        s.worldSize(),
        host,
        pid,
        s.state(),
        s.step(),
        s.maxSteps(),
        s.loss(),
        s.lr(),
        s.tokensPerSec(),
        s.mfu(),
        s.stepSeconds(),
        s.communicationWaitSeconds(),
        s.rssBytes(),
        s.offHeapBytes(),
        s.cpuLoad(),
        startedAt,
        s.updatedAt(),
        s.collectives(),
        s.lastError(),
        s.precision(),
        s.matmul(),
        s.parallel(),
        s.heartbeatSeconds());
  }

  @Test
  void aRankIsGoneWhenItsProcessOnThisHostIsNoMoreOrItsPidWasTakenAgain() throws Exception {
    String here = RankStatus.thisHost();
    long self = ProcessHandle.current().pid();
    long now = System.currentTimeMillis();
    assertThat(on(here, self, now, RankState.TRAINING).goneFrom(here)).isFalse();
    Process ended = new ProcessBuilder("true").start();
    ended.waitFor();
    assertThat(on(here, ended.pid(), now, RankState.TRAINING).goneFrom(here)).isTrue();
    // this JVM's pid, written by a rank that started before this JVM did: another process
    long before =
        ProcessHandle.current().info().startInstant().orElse(Instant.now()).toEpochMilli()
            - 3_600_000;
    assertThat(on(here, self, before, RankState.TRAINING).goneFrom(here)).isTrue();
    // another host's process cannot be looked at; an ended rank is not gone, it ended
    assertThat(on(here + "-elsewhere", ended.pid(), now, RankState.TRAINING).goneFrom(here))
        .isFalse();
    assertThat(on(here, ended.pid(), now, RankState.FINISHED).goneFrom(here)).isFalse();
  }

  @Test
  void aResumedRankStartsAtItsCheckpointsStep() {
    RankStatus s = on("h", 1, 0, RankState.STARTING).resumedAt(4200);
    assertThat(s.step()).isEqualTo(4200);
    assertThat(s.state()).isEqualTo(RankState.STARTING);
  }
}
