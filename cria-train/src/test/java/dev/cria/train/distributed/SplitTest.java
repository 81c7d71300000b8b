package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.ParallelDims;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link Collective#split} on cria's own transports: a job of 4 ranks laid out as dp 2 x tp 2
 * splits into its tensor-parallel groups ({0, 1}, {2, 3}) and its data-parallel groups ({0, 2}, {1,
 * 3}), each summing among its own ranks only, on the transport the job's kind allows.
 */
class SplitTest {
  private static final ParallelDims DIMS = new ParallelDims(2, 2);
  private static final int COUNT = 1003; // not divided by the group's size

  @TempDir Path tmp;

  /** What a rank of a split group saw: its place, its transport, its sums and a broadcast. */
  private record Seen(int rank, int size, String transport, float[] sums, byte[] broadcast) {}

  /** Every rank's input: element i of rank r is r * 1000 + i. */
  private static float input(int rank, int i) {
    return rank * 1000f + i;
  }

  private static Seen use(Collective group, int globalRank) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment x = arena.allocate(4L * COUNT, 64);
      for (int i = 0; i < COUNT; i++) {
        x.setAtIndex(ValueLayout.JAVA_FLOAT, i, input(globalRank, i));
      }
      group.allReduceSum(x, COUNT);
      MemorySegment b = arena.allocate(17);
      if (group.rank() == 1) {
        b.fill((byte) (10 + globalRank));
      }
      group.broadcast(b, 17, 1);
      group.barrier();
      return new Seen(
          group.rank(),
          group.worldSize(),
          group.transport(),
          x.toArray(ValueLayout.JAVA_FLOAT),
          b.toArray(ValueLayout.JAVA_BYTE));
    }
  }

  /** Each rank's view of its tensor-parallel group, then of its data-parallel group. */
  private List<Seen[]> split(CollectiveKind kind, java.util.function.IntFunction<Path> hostOf)
      throws Exception {
    return LoopbackRanks.run(
        kind,
        4,
        Duration.ofSeconds(30),
        line -> {},
        port -> {},
        hostOf,
        job -> {
          int r = job.rank();
          try (Collective tensor = job.split(DIMS.tensorGroup(DIMS.dataRank(r)));
              Collective data = job.split(DIMS.dataGroup(DIMS.tensorRank(r)))) {
            Seen[] seen = {use(tensor, r), use(data, r)};
            use(job, r); // the job's own group still works
            return seen;
          }
        });
  }

  private static void assertGroups(
      List<Seen[]> seen, String tensorTransport, String dataTransport) {
    for (int r = 0; r < 4; r++) {
      Seen tensor = seen.get(r)[0];
      Seen data = seen.get(r)[1];
      assertThat(tensor.rank()).as("rank %d in its tensor group", r).isEqualTo(DIMS.tensorRank(r));
      assertThat(data.rank()).as("rank %d in its data group", r).isEqualTo(DIMS.dataRank(r));
      assertThat(tensor.size()).isEqualTo(2);
      assertThat(data.size()).isEqualTo(2);
      assertThat(tensor.transport()).startsWith(tensorTransport);
      assertThat(data.transport()).startsWith(dataTransport);
      int[] tensorGroup = DIMS.tensorGroup(DIMS.dataRank(r));
      int[] dataGroup = DIMS.dataGroup(DIMS.tensorRank(r));
      for (int i = 0; i < COUNT; i++) {
        float tensorSum = 0;
        for (int q : tensorGroup) {
          tensorSum += input(q, i);
        }
        float dataSum = 0;
        for (int q : dataGroup) {
          dataSum += input(q, i);
        }
        assertThat(tensor.sums()[i]).as("rank %d, tensor sum %d", r, i).isEqualTo(tensorSum);
        assertThat(data.sums()[i]).as("rank %d, data sum %d", r, i).isEqualTo(dataSum);
      }
      // the broadcast came from the group's rank 1
      assertThat(tensor.broadcast()[16]).isEqualTo((byte) (10 + tensorGroup[1]));
      assertThat(data.broadcast()[16]).isEqualTo((byte) (10 + dataGroup[1]));
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM", "AUTO"})
  void aJobOfOneHostSplitsIntoGroupsThatSumAmongThemselves(CollectiveKind kind) throws Exception {
    // asked for TCP, the groups are TCP rings too; else each gets a shared mapping of its own
    String transport = kind == CollectiveKind.TCP ? "tcp (a ring of 2" : "shm";
    assertGroups(split(kind, r -> null), transport, transport);
  }

  @Test
  void onTwoHostsTheTensorGroupsShareMemoryAndTheDataGroupsRingAcross() throws Exception {
    Path a = Files.createDirectories(tmp.resolve("host-a"));
    Path b = Files.createDirectories(tmp.resolve("host-b"));
    // ranks 0 and 1 on one host, 2 and 3 on the other: the job is hierarchical
    assertGroups(split(CollectiveKind.AUTO, r -> r < 2 ? a : b), "shm", "tcp (a ring of 2");
  }

  @Test
  void membersThatAreNotAGroupOfThisRankAreRefused() throws Exception {
    List<String> refusals =
        LoopbackRanks.run(
            CollectiveKind.SHM,
            2,
            Duration.ofSeconds(30),
            job -> {
              int other = 1 - job.rank();
              assertThatThrownBy(() -> job.split(new int[] {other}))
                  .isInstanceOf(IllegalArgumentException.class)
                  .hasMessageContaining("is not among the members");
              assertThatThrownBy(() -> job.split(new int[] {1, 0}))
                  .hasMessageContaining("are not ascending");
              assertThatThrownBy(() -> job.split(new int[] {0, 2}))
                  .hasMessageContaining("rank 2 is not one of the group's 2");
              try (Collective alone = job.split(new int[] {job.rank()})) {
                return alone.transport() + " " + alone.worldSize();
              }
            });
    assertThat(refusals).containsOnly("none (one rank) 1");
  }
}
