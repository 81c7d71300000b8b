package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.engine.parallel.Collective;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Open MPI's collectives through FFM under a real {@code mpirun} (Debian's openmpi-bin): every
 * collective on 2 and 3 ranks, the same bits on every rank, and the same sums as cria's TCP ring to
 * float rounding. Skipped where mpirun is absent.
 */
class MpiCollectiveTest {
  @TempDir Path tmp;

  private String mpirun(int ranks, String kind) throws Exception {
    return mpirun(ranks, kind, List.of());
  }

  private String mpirun(int ranks, String kind, List<String> more) throws Exception {
    List<String> command =
        new ArrayList<>(
            List.of(
                "/usr/bin/mpirun",
                "--allow-run-as-root",
                "--oversubscribe",
                "--mca",
                "btl",
                "self,tcp,vader",
                "-np",
                Integer.toString(ranks),
                "-x",
                "CRIA_JOB_SECRET",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules",
                "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED",
                "-cp",
                System.getProperty("java.class.path"),
                MpiCheck.class.getName(),
                tmp.toString(),
                kind));
    command.addAll(more);
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().put("CRIA_JOB_SECRET", "the secret of this test's ranks!");
    pb.redirectOutput(tmp.resolve(kind + ".out").toFile());
    Process p = pb.start();
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    String out = Files.readString(tmp.resolve(kind + ".out"));
    assertThat(p.exitValue()).as(out).isZero();
    return out;
  }

  private float[] floats(String kind, int rank) throws Exception {
    ByteBuffer b =
        ByteBuffer.wrap(Files.readAllBytes(tmp.resolve(kind + "-rank-" + rank + ".bin")))
            .order(ByteOrder.nativeOrder());
    float[] f = new float[b.remaining() / 4];
    b.asFloatBuffer().get(f);
    return f;
  }

  @ParameterizedTest
  @ValueSource(ints = {2, 3})
  void everyCollectiveUnderMpirunIsTheSameOnEveryRankAndAsTheTcpRing(int ranks) throws Exception {
    assumeTrue(
        Files.isExecutable(Path.of("/usr/bin/mpirun")),
        "skipped: /usr/bin/mpirun is absent (install openmpi-bin)");
    // any Open MPI from 4 on (Debian 12 has 4.1, Debian 13 has 5)
    assertThat(mpirun(ranks, "mpi"))
        .containsPattern("rank 0 of " + ranks + ": mpi \\(Open MPI v[4-9]");
    mpirun(ranks, "tcp");
    for (int r = 0; r < ranks; r++) {
      float[] mpi = floats("mpi", r);
      float[] tcp = floats("tcp", r);
      assertThat(mpi).hasSameSizeAs(tcp);
      int at = 0;
      for (int count : MpiCheck.COUNTS) {
        for (int op = 0; op < 3; op++) {
          // after a reduce-scatter only the rank's own shard is defined
          long from = op == 1 ? Collective.shardStart(count, ranks, r) : 0;
          long to = op == 1 ? Collective.shardStart(count, ranks, r + 1) : count;
          for (long i = from; i < to; i++) {
            int k = at + (int) i;
            if (Math.abs(mpi[k] - tcp[k]) > 1e-5f) {
              throw new AssertionError(
                  "rank "
                      + r
                      + ", op "
                      + op
                      + ", count "
                      + count
                      + ", element "
                      + i
                      + ": "
                      + mpi[k]
                      + " vs "
                      + tcp[k]);
            }
          }
          at += count;
        }
      }
      for (int i = at; i < mpi.length; i++) {
        assertThat(mpi[i]).as("broadcast").isEqualTo(tcp[i]);
      }
    }
    // all-reduce, and the broadcast at the end, leave every rank the same bits
    float[] first = floats("mpi", 0);
    for (int r = 1; r < ranks; r++) {
      float[] other = floats("mpi", r);
      int at = 0;
      for (int count : MpiCheck.COUNTS) {
        for (int i = 0; i < count; i++) {
          assertThat(Float.floatToRawIntBits(other[at + i]))
              .as("all-reduce of %d floats, element %d, rank %d", count, i, r)
              .isEqualTo(Float.floatToRawIntBits(first[at + i]));
        }
        at += 3 * count;
      }
    }
    // reduce-scatter left each rank its shard summed: equal to the sum over ranks' inputs
    int at = 0;
    for (int count : MpiCheck.COUNTS) {
      at += count; // after the all-reduce
      double[] sums = new double[count];
      for (int q = 0; q < ranks; q++) {
        float[] x = MpiCheck.data(q, count, 1);
        for (int i = 0; i < count; i++) {
          sums[i] += x[i];
        }
      }
      for (int r = 0; r < ranks; r++) {
        float[] got = floats("mpi", r);
        long from = Collective.shardStart(count, ranks, r);
        long to = Collective.shardStart(count, ranks, r + 1);
        for (long i = from; i < to; i++) {
          if (Math.abs(got[at + (int) i] - sums[(int) i]) > 1e-5) {
            throw new AssertionError(
                "reduce-scatter of " + count + " floats, rank " + r + ", element " + i);
          }
        }
      }
      at += 2 * count;
    }
  }

  @Test
  void aSplitUnderMpirunGivesEachGroupACommunicatorOfItsOwn() throws Exception {
    assumeTrue(
        Files.isExecutable(Path.of("/usr/bin/mpirun")),
        "skipped: /usr/bin/mpirun is absent (install openmpi-bin)");
    String out = mpirun(4, "mpi", List.of("split"));
    // the groups of dp 2 x tp 2, each an MPI_Comm_split of the world (the sums checked by MpiCheck)
    assertThat(out)
        .contains("rank 0 is 0 of 2 in [0, 1]: mpi (")
        .contains("rank 3 is 1 of 2 in [2, 3]: mpi (")
        .contains("rank 1 is 0 of 2 in [1, 3]: mpi (")
        .contains("rank 2 is 1 of 2 in [0, 2]: mpi (");
  }
}
