package dev.cria.train.distributed;

import static dev.cria.train.distributed.TestFloats.floats;
import static dev.cria.train.distributed.TestFloats.segment;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every collective on every host backend (the TCP ring on loopback, the shared mapping): each rank
 * a thread of this JVM with its own sockets or mapping.
 */
class CollectivesTest {
  private static final Duration JOIN = Duration.ofSeconds(20);
  private static final Duration TIMEOUT = Duration.ofSeconds(20);

  private static int freePort() throws IOException {
    return LocalRanks.freePort();
  }

  /** Runs {@code body} on {@code world} ranks joined over loopback; returns each rank's result. */
  private static <T> List<T> onRanks(
      CollectiveKind kind, int world, Duration timeout, Function<Collective, T> body)
      throws Exception {
    return LoopbackRanks.run(
        kind,
        world,
        timeout,
        c -> {
          assertThat(c.transport()).startsWith(kind.toString());
          return body.apply(c);
        });
  }

  private static float[] data(int rank, int count) {
    return TestFloats.random(31L * rank + count, count);
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void allReduceSumsOnEveryRankBitIdenticallyForSizesTheWorldDoesNotDivide(CollectiveKind kind)
      throws Exception {
    for (int world : new int[] {2, 3}) {
      for (int count : new int[] {0, 1, 2, 5, 1000, (1 << 20) + 3}) {
        List<float[]> results =
            onRanks(
                kind,
                world,
                TIMEOUT,
                c -> {
                  try (Arena arena = Arena.ofConfined()) {
                    MemorySegment s = segment(arena, data(c.rank(), count));
                    c.allReduceSum(s, count);
                    return floats(s, count);
                  }
                });
        double[] expectedSums = TestFloats.sums(world, count, r -> data(r, count));
        TestFloats.assertSums(
            "world " + world + ", count " + count, results.getFirst(), expectedSums, 0, count);
        for (float[] r : results) {
          assertThat(r).as("world %d count %d", world, count).isEqualTo(results.getFirst());
        }
      }
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void reduceScatterLeavesEachRankItsShardSummedAndAllGatherSpreadsThem(CollectiveKind kind)
      throws Exception {
    int world = 3;
    int count = 100_003;
    List<float[]> scattered =
        onRanks(
            kind,
            world,
            TIMEOUT,
            c -> {
              try (Arena arena = Arena.ofConfined()) {
                MemorySegment s = segment(arena, data(c.rank(), count));
                c.reduceScatterSum(s, count);
                return floats(s, count);
              }
            });
    double[] sums = TestFloats.sums(world, count, q -> data(q, count));
    for (int r = 0; r < world; r++) {
      TestFloats.assertSums(
          "rank " + r,
          scattered.get(r),
          sums,
          Collective.shardStart(count, world, r),
          Collective.shardStart(count, world, r + 1));
    }
    List<float[]> gathered =
        onRanks(
            kind,
            world,
            TIMEOUT,
            c -> {
              try (Arena arena = Arena.ofConfined()) {
                float[] mine = new float[count];
                java.util.Arrays.fill(mine, -1);
                long from = Collective.shardStart(count, world, c.rank());
                long to = Collective.shardStart(count, world, c.rank() + 1);
                for (long i = from; i < to; i++) {
                  mine[(int) i] = c.rank() * 1000 + (float) (i % 997);
                }
                MemorySegment s = segment(arena, mine);
                c.allGather(s, count);
                return floats(s, count);
              }
            });
    for (float[] g : gathered) {
      for (int r = 0; r < world; r++) {
        for (long i = Collective.shardStart(count, world, r);
            i < Collective.shardStart(count, world, r + 1);
            i++) {
          assertThat(g[(int) i]).isEqualTo(r * 1000 + (float) (i % 997));
        }
      }
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void broadcastCopiesTheRootsBytesAndBarrierWaitsForEveryone(CollectiveKind kind)
      throws Exception {
    int world = 3;
    int bytes = 10_000_019;
    AtomicInteger arrived = new AtomicInteger();
    List<byte[]> results =
        onRanks(
            kind,
            world,
            TIMEOUT,
            c -> {
              try (Arena arena = Arena.ofConfined()) {
                MemorySegment s = arena.allocate(bytes);
                if (c.rank() == 1) {
                  byte[] source = new byte[bytes];
                  new SplittableRandom(5).nextBytes(source);
                  MemorySegment.copy(source, 0, s, ValueLayout.JAVA_BYTE, 0, bytes);
                }
                c.broadcast(s, bytes, 1);
                try {
                  Thread.sleep(200L * c.rank());
                } catch (InterruptedException e) {
                  throw new AssertionError(e);
                }
                arrived.incrementAndGet();
                c.barrier();
                assertThat(arrived.get())
                    .as("ranks arrived when rank %d left the barrier", c.rank())
                    .isEqualTo(world);
                return s.toArray(ValueLayout.JAVA_BYTE);
              }
            });
    byte[] expected = new byte[bytes];
    new SplittableRandom(5).nextBytes(expected);
    for (byte[] r : results) {
      assertThat(r).isEqualTo(expected);
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void aLostPeerFailsTheOthersWithinTheTimeoutNamingIt(CollectiveKind kind) throws Exception {
    int world = 3;
    long start = System.nanoTime();
    List<String> outcomes =
        onRanks(
            kind,
            world,
            Duration.ofSeconds(2),
            c -> {
              if (c.rank() == 2) {
                return "left"; // closes its connections without taking part
              }
              try (Arena arena = Arena.ofConfined()) {
                MemorySegment s = segment(arena, data(c.rank(), 1 << 20));
                c.allReduceSum(s, 1 << 20);
                return "finished";
              } catch (CollectiveException e) {
                return e.getMessage();
              }
            });
    assertThat((System.nanoTime() - start) / 1e9).isLessThan(15);
    assertThat(outcomes.get(0)).startsWith("rank 0: ").contains("rank 2");
    assertThat(outcomes.get(1)).startsWith("rank 1: ").containsAnyOf("rank 0", "rank 2");
    assertThat(outcomes.get(1)).doesNotContain("finished");
  }

  @Test
  void aRankThatNeverComesIsAJoinTimeout() throws Exception {
    int port = freePort();
    RankEnvironment env = new RankEnvironment(0, 2, 0, "127.0.0.1", port);
    JobKey key = JobKey.generate("lonely");
    JoinSettings settings = JoinSettings.of(Duration.ofSeconds(1), TIMEOUT);
    assertThatThrownBy(() -> Collectives.join(env, Optional.of(key), settings))
        .isInstanceOf(CollectiveException.class)
        .hasMessageContaining("rank 0: waited for 1 more rank(s) to join until the join timeout");
    RankEnvironment lonely = new RankEnvironment(1, 2, 1, "127.0.0.1", port);
    assertThatThrownBy(() -> Collectives.join(lonely, Optional.of(key), settings))
        .hasMessageContaining("rank 1: could not reach rank 0 (the master)");
  }

  @Test
  void aGroupOfOneNeedsNoNetwork() {
    try (Collective c =
            Collectives.join(
                RankEnvironment.single(), Optional.empty(), JoinSettings.of(JOIN, TIMEOUT));
        Arena arena = Arena.ofConfined()) {
      MemorySegment s = segment(arena, new float[] {1, 2, 3});
      c.allReduceSum(s, 3);
      c.barrier();
      assertThat(floats(s, 3)).containsExactly(1, 2, 3);
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void aPatientBarrierOutwaitsTheOperationTimeoutAndTheNextOperationHasItsUsualOne(
      CollectiveKind kind) throws Exception {
    List<String> outcomes =
        onRanks(
            kind,
            2,
            Duration.ofMillis(500),
            c -> {
              try {
                if (c.rank() == 1) {
                  Thread.sleep(1500); // rank 1 works alone for longer than the operation timeout
                }
                c.barrier(Duration.ofSeconds(20));
                if (c.rank() == 1) {
                  Thread.sleep(1500);
                }
                c.barrier();
                return "passed";
              } catch (CollectiveException e) {
                return e.getMessage();
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
            });
    assertThat(outcomes.get(0)).contains("during barrier");
  }
}
