package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.ParallelDims;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;

/**
 * A rank of {@link MpiCollectiveTest}, started by mpirun: joins with the collectives named by its
 * second argument, runs every collective on sizes 0, 1, odd and above 2^20, and writes what it got
 * to {@code <dir>/<kind>-rank-<r>.bin}; the test compares the ranks and the transports.
 */
public final class MpiCheck {
  static final int[] COUNTS = {0, 1, 7, 1000, (1 << 20) + 3};

  private MpiCheck() {}

  static float[] data(int rank, int count, int salt) {
    SplittableRandom random = new SplittableRandom(977L * rank + 31L * count + salt);
    float[] x = new float[count];
    for (int i = 0; i < count; i++) {
      x[i] = (float) random.nextDouble(-1, 1);
    }
    return x;
  }

  /**
   * Splits a job of 4 ranks as dp 2 x tp 2 and checks that each group sums among its own ranks;
   * prints what each group is.
   */
  private static void split(Collective job) {
    ParallelDims dims = new ParallelDims(2, 2);
    int r = job.rank();
    try (Collective tensor = job.split(dims.tensorGroup(dims.dataRank(r)));
        Collective data = job.split(dims.dataGroup(dims.tensorRank(r)));
        Arena arena = Arena.ofConfined()) {
      for (Collective g : new Collective[] {tensor, data}) {
        int[] members =
            g == tensor ? dims.tensorGroup(dims.dataRank(r)) : dims.dataGroup(dims.tensorRank(r));
        MemorySegment x = arena.allocate(4L * 5, 64);
        for (int i = 0; i < 5; i++) {
          x.setAtIndex(ValueLayout.JAVA_FLOAT, i, r * 10f + i);
        }
        g.allReduceSum(x, 5);
        for (int i = 0; i < 5; i++) {
          float expected = 0;
          for (int q : members) {
            expected += q * 10f + i;
          }
          if (x.getAtIndex(ValueLayout.JAVA_FLOAT, i) != expected) {
            throw new AssertionError(
                "rank " + r + ": " + x.getAtIndex(ValueLayout.JAVA_FLOAT, i) + " != " + expected);
          }
        }
        System.out.println(
            "rank "
                + r
                + " is "
                + g.rank()
                + " of "
                + g.worldSize()
                + " in "
                + java.util.Arrays.toString(members)
                + ": "
                + g.transport());
      }
    }
    job.barrier();
  }

  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args[0]);
    CollectiveKind kind = CollectiveKind.parse(args[1]);
    RankEnvironment env = RankEnvironment.fromEnvironment();
    try (Collective c =
            Collectives.join(
                env,
                JobKey.fromEnvironment(System.getenv(), "mpi-check"),
                JoinSettings.of(Duration.ofSeconds(60), Duration.ofSeconds(60)).withKind(kind));
        Arena arena = Arena.ofConfined()) {
      if (!c.transport().startsWith(kind.toString())) {
        throw new AssertionError("asked for " + kind + ", got " + c.transport());
      }
      if (args.length > 2 && args[2].equals("split")) {
        split(c);
        return;
      }
      java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
      for (int count : COUNTS) {
        for (int op = 0; op < 3; op++) {
          float[] x = data(c.rank(), count, op);
          MemorySegment s = arena.allocate(Math.max(4, 4L * count), 64);
          MemorySegment.copy(x, 0, s, ValueLayout.JAVA_FLOAT, 0, count);
          switch (op) {
            case 0 -> c.allReduceSum(s, count);
            case 1 -> c.reduceScatterSum(s, count);
            default -> c.allGather(s, count);
          }
          out.write(s.asSlice(0, 4L * count).toArray(ValueLayout.JAVA_BYTE));
        }
      }
      MemorySegment b = arena.allocate(1001);
      if (c.rank() == c.worldSize() - 1) {
        b.fill((byte) 7);
      }
      c.broadcast(b, 1001, c.worldSize() - 1);
      c.barrier();
      out.write(b.toArray(ValueLayout.JAVA_BYTE));
      Files.write(dir.resolve(kind + "-rank-" + c.rank() + ".bin"), out.toByteArray());
      System.out.println("rank " + c.rank() + " of " + c.worldSize() + ": " + c.transport());
    }
  }
}
