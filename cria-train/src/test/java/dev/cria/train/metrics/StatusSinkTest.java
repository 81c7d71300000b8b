package dev.cria.train.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.core.run.RankState;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StatusSinkTest {
  @TempDir Path run;

  private RankStatus read() throws IOException {
    return StatusFiles.read(StatusFiles.file(run, 1));
  }

  @Test
  void theStatusFollowsTheRankFromStartingToFinished() throws IOException {
    AtomicLong now = new AtomicLong(); // the test's clock, in nanoseconds
    try (StatusSink sink =
        new StatusSink(run, 1, 2, 20, Duration.ofMinutes(1), () -> 41, now::get)) {
      RankStatus first = read();
      assertThat(first.state()).isEqualTo(RankState.STARTING);
      assertThat(first.run()).isEqualTo(run.getFileName().toString());
      assertThat(first.rank()).isEqualTo(1);
      assertThat(first.worldSize()).isEqualTo(2);
      assertThat(first.pid()).isEqualTo(ProcessHandle.current().pid());
      assertThat(first.rssBytes()).isPositive();
      assertThat(first.precision()).isNull();
      sink.compute("bf16-mixed", "oneDNN 3.11.0 (brg_matmul:avx512_core_bf16)");
      assertThat(read().precision()).isEqualTo("bf16-mixed");
      sink.step(MetricsSinkTest.step(1, 3.5));
      RankStatus stepped = read();
      assertThat(stepped.state()).isEqualTo(RankState.TRAINING);
      assertThat(stepped.step()).isEqualTo(1);
      assertThat(stepped.loss()).isEqualTo(3.5);
      assertThat(stepped.communicationWaitSeconds()).isEqualTo(0.05);
      assertThat(stepped.collectives()).isEqualTo(41);
      assertThat(stepped.matmul()).isEqualTo("oneDNN 3.11.0 (brg_matmul:avx512_core_bf16)");
      now.addAndGet(499_000_000L);
      sink.step(
          MetricsSinkTest.step(2, 3.4)); // within half a second of the last write: not written
      assertThat(read().step()).isEqualTo(1);
      now.addAndGet(1_000_000L);
      sink.step(MetricsSinkTest.step(3, 3.3)); // half a second after it: written
      assertThat(read().step()).isEqualTo(3);
      sink.state(RankState.VALIDATING);
      assertThat(read().state()).isEqualTo(RankState.VALIDATING);
      assertThat(read().step()).isEqualTo(3);
      sink.state(RankState.FINISHED);
    }
    assertThat(read().state()).isEqualTo(RankState.FINISHED);
  }

  @Test
  void theHeartbeatKeepsTheFileFreshDuringALongSave() throws Exception {
    try (StatusSink sink = new StatusSink(run, 1, 1, 20, Duration.ofMillis(50))) {
      sink.state(RankState.SAVING);
      long before = read().updatedAt();
      // a long save: no step, no state change; the heartbeat rewrites the file (looked for up to
      // a minute, a liveness bound far above the 50 ms beat)
      long deadline = System.nanoTime() + 60_000_000_000L;
      RankStatus later = read();
      while (later.updatedAt() <= before && System.nanoTime() < deadline) {
        Thread.sleep(20);
        later = read();
      }
      assertThat(later.state()).isEqualTo(RankState.SAVING);
      assertThat(later.updatedAt()).isGreaterThan(before);
    }
  }

  @Test
  void aFailureIsKeptWithItsMessage() throws IOException {
    try (StatusSink sink = new StatusSink(run, 1, 1, 20, Duration.ofMinutes(1))) {
      sink.failed("the loss is NaN at step 4");
    }
    assertThat(read().state()).isEqualTo(RankState.FAILED);
    assertThat(read().lastError()).isEqualTo("the loss is NaN at step 4");
  }

  @Test
  void aResumedRankStartsAtItsCheckpointsStepBeforeItsFirstStep() throws IOException {
    try (StatusSink sink = new StatusSink(run, 1, 1, 20, Duration.ofMinutes(1))) {
      sink.resumed(12);
      assertThat(read().step()).isEqualTo(12);
      assertThat(read().state()).isEqualTo(RankState.STARTING);
      assertThat(read().loss()).isNaN();
    }
  }
}
