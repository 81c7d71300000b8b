package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link Collective#abort}: a rank that waits for a peer that never comes (the operation timeout is
 * ten minutes) fails as soon as another thread aborts its group, with the reason it was given; the
 * peer then learns that it left.
 */
class AbortTest {
  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void anAbortEndsTheOperationInProgressWithItsReason(CollectiveKind kind) throws Exception {
    CountDownLatch rankOneDone = new CountDownLatch(1);
    var results =
        LoopbackRanks.run(
            kind,
            2,
            Duration.ofMinutes(10),
            group -> {
              if (group.rank() == 0) {
                // never enters the all-reduce; waits until rank 1 has given up
                assertThat(rankOneDone.await(60, TimeUnit.SECONDS)).isTrue();
                // rank 1 left: the same operation here fails at once rather than after 10 min
                try (Arena arena = Arena.ofConfined()) {
                  MemorySegment floats = arena.allocate(4L * 1000);
                  long t0 = System.nanoTime();
                  assertThatThrownBy(() -> group.allReduceSum(floats, 1000))
                      .isInstanceOf(CollectiveException.class);
                  return (System.nanoTime() - t0) / 1e9;
                }
              }
              try (Arena arena = Arena.ofConfined()) {
                MemorySegment floats = arena.allocate(4L * 1000);
                Thread.ofPlatform()
                    .start(() -> {
                      sleep(300);
                      group.abort("rank 1: rank 0 stopped answering (a test)");
                    });
                long t0 = System.nanoTime();
                assertThatThrownBy(() -> group.allReduceSum(floats, 1000))
                    .isInstanceOf(CollectiveException.class)
                    .hasMessage("rank 1: rank 0 stopped answering (a test)");
                double seconds = (System.nanoTime() - t0) / 1e9;
                // later operations fail the same way
                assertThatThrownBy(group::barrier)
                    .hasMessage("rank 1: rank 0 stopped answering (a test)");
                return seconds;
              } finally {
                rankOneDone.countDown();
              }
            });
    // liveness bounds far above an honest run (the abort is seen within 0.1 s of waiting)
    assertThat(results.get(1)).isLessThan(60);
    assertThat(results.get(0)).isLessThan(60);
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
