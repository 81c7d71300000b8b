package dev.cria.train.distributed;

import static dev.cria.train.distributed.TestFloats.floats;
import static dev.cria.train.distributed.TestFloats.segment;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.parallel.Collective;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Jobs across "hosts": ranks given different shared-memory directories cannot see each other's
 * files, as ranks on different machines cannot, so a job of threads on loopback becomes a job of
 * several hosts.
 */
class HierarchicalCollectiveTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);
  @TempDir Path tmp;

  /** The directory of host {@code h} (made on first use). */
  private IntFunction<Path> hosts(int... hostOfRank) {
    return r -> {
      Path dir = tmp.resolve("host-" + hostOfRank[r]);
      try {
        Files.createDirectories(dir);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      return dir;
    };
  }

  private <T> List<T> run(int[] hostOfRank, List<String> log, LoopbackRanks.Body<T> body)
      throws Exception {
    return LoopbackRanks.run(
        CollectiveKind.AUTO,
        hostOfRank.length,
        TIMEOUT,
        log::add,
        port -> {},
        hosts(hostOfRank),
        body);
  }

  private static float[] data(int rank, int count) {
    return TestFloats.random(17L * rank + count, count);
  }

  /** What one rank got: its transport, its shard of each size, the results of each operation. */
  private record Seen(String transport, List<Collective.Shard> shards, List<float[]> results) {}

  private static final int[] SIZES = {0, 1, 5, 1000, (1 << 20) + 3};

  @Test
  void twoHostsOfTwoAndOfThreeInterleavedRanksSumBitIdenticallyOverTheRails() throws Exception {
    for (int[] hostOfRank : new int[][] {{0, 0, 1, 1}, {0, 1, 0, 1, 0, 1}}) {
      int world = hostOfRank.length;
      List<Seen> seen =
          run(
              hostOfRank,
              new ArrayList<>(),
              c -> {
                List<Collective.Shard> shards = new ArrayList<>();
                List<float[]> results = new ArrayList<>();
                try (Arena arena = Arena.ofConfined()) {
                  for (int count : SIZES) {
                    MemorySegment s = segment(arena, data(c.rank(), count));
                    c.allReduceSum(s, count);
                    results.add(floats(s, count));
                    MemorySegment r = segment(arena, data(c.rank(), count));
                    c.reduceScatterSum(r, count);
                    results.add(floats(r, count));
                    shards.add(c.shard(count, c.rank()));
                  }
                }
                return new Seen(c.transport(), shards, results);
              });
      int perHost = world / 2;
      for (int k = 0; k < SIZES.length; k++) {
        int count = SIZES[k];
        double[] sums = TestFloats.sums(world, count, r -> data(r, count));
        boolean[] owned = new boolean[count];
        for (int r = 0; r < world; r++) {
          Seen s = seen.get(r);
          assertThat(s.transport())
              .isEqualTo(
                  "hierarchical (shm among the "
                      + perHost
                      + " ranks of each of 2 hosts, TCP rails between them)");
          assertThat(s.results().get(2 * k)).isEqualTo(seen.getFirst().results().get(2 * k));
          Collective.Shard own = s.shards().get(k);
          for (long i = own.from(); i < own.to(); i++) {
            assertThat(owned[(int) i]).as("element %d owned twice", i).isFalse();
            owned[(int) i] = true;
            // the owner's sum is the one every rank got from the all-reduce
            assertThat(s.results().get(2 * k + 1)[(int) i])
                .isEqualTo(seen.getFirst().results().get(2 * k)[(int) i]);
          }
        }
        for (int i = 0; i < count; i++) {
          assertThat(owned[i]).as("element %d of %d owned", i, count).isTrue();
        }
        TestFloats.assertSums(
            Arrays.toString(hostOfRank) + " count " + count,
            seen.getFirst().results().get(2 * k),
            sums,
            0,
            count);
      }
    }
  }

  @Test
  void allGatherBroadcastAndBarrierReachEveryRankOfEveryHost() throws Exception {
    int count = 100_003;
    int bytes = 1_000_003;
    List<float[]> gathered =
        run(
            new int[] {0, 0, 1, 1},
            new ArrayList<>(),
            c -> {
              try (Arena arena = Arena.ofConfined()) {
                float[] mine = new float[count];
                Arrays.fill(mine, -1);
                Collective.Shard own = c.shard(count, c.rank());
                for (long i = own.from(); i < own.to(); i++) {
                  mine[(int) i] = c.rank() * 1000 + (float) (i % 997);
                }
                MemorySegment s = segment(arena, mine);
                c.allGather(s, count);
                MemorySegment b = arena.allocate(bytes);
                if (c.rank() == 3) {
                  for (int i = 0; i < bytes; i++) {
                    b.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
                  }
                }
                c.broadcast(b, bytes, 3);
                for (int i = 0; i < bytes; i += 101) {
                  assertThat(b.get(ValueLayout.JAVA_BYTE, i)).isEqualTo((byte) (i * 7));
                }
                c.barrier();
                float[] out = floats(s, count);
                float[] owners = new float[count];
                for (int r = 0; r < c.worldSize(); r++) {
                  Collective.Shard sh = c.shard(count, r);
                  for (long i = sh.from(); i < sh.to(); i++) {
                    owners[(int) i] = r * 1000 + (float) (i % 997);
                  }
                }
                assertThat(out).isEqualTo(owners);
                return out;
              }
            });
    assertThat(gathered).hasSize(4);
  }

  @Test
  void hostsWithDifferentNumbersOfRanksOrOneEachKeepTheTcpRingAndSayWhy() throws Exception {
    List<String> log = new CopyOnWriteArrayList<>();
    List<String> transports = run(new int[] {0, 0, 1}, log, Collective::transport);
    assertThat(transports).containsOnly("tcp (a ring of 3 ranks)");
    assertThat(log)
        .contains(
            "rank 0: the ranks are on 2 hosts of 2, 1 ranks; hierarchical collectives need the"
                + " same number on every host: using the TCP ring");
    log.clear();
    assertThat(run(new int[] {0, 1}, log, Collective::transport))
        .containsOnly("tcp (a ring of 2 ranks)");
    assertThat(log).contains("rank 0: the ranks are on 2 hosts of 1 rank: using the TCP ring");
    assertThat(tmp.resolve("host-0")).isEmptyDirectory(); // probes and mappings are gone
  }

  @Test
  void sharedMemoryAskedForRanksOnTwoHostsIsRefused() {
    assertThatThrownBy(() ->
            LoopbackRanks.run(
                CollectiveKind.SHM,
                2,
                TIMEOUT,
                line -> {},
                port -> {},
                hosts(0, 1),
                Collective::transport))
        .isInstanceOf(ExecutionException.class)
        .hasRootCauseMessage(
            "--collective shm: the ranks cannot share a mapping (2 hosts of 1 rank, or no room in "
                + tmp.resolve("host-0")
                + "); use auto or tcp");
  }
}
