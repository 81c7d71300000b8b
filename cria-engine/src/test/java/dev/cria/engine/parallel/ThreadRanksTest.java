package dev.cria.engine.parallel;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The fixture the engine's tensor-parallel tests run on keeps {@link Collective}'s contract. */
class ThreadRanksTest {
  @Test
  void reduceScatterLeavesEachRankItsShardOfTheSumsAndAllGatherPutsThemTogether() throws Exception {
    int count = 10; // shards of 3, 3 and 4
    List<float[]> seen =
        ThreadRanks.run(
            3,
            group -> {
              try (Arena arena = Arena.ofShared()) { // the other ranks read it
                MemorySegment x = arena.allocate(4L * count);
                for (int i = 0; i < count; i++) {
                  x.setAtIndex(ValueLayout.JAVA_FLOAT, i, 100 * group.rank() + i);
                }
                group.reduceScatterSum(x, count);
                Collective.Shard own = group.shard(count, group.rank());
                for (long i = 0; i < count; i++) {
                  if (i < own.from() || i >= own.to()) {
                    x.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.NaN); // only the shard counts
                  }
                }
                group.allGather(x, count);
                return x.toArray(ValueLayout.JAVA_FLOAT);
              }
            });
    float[] sums = new float[count];
    for (int i = 0; i < count; i++) {
      sums[i] = 300 + 3 * i; // 100 x (0 + 1 + 2) + 3i
    }
    for (float[] rank : seen) {
      assertThat(rank).containsExactly(sums);
    }
  }
}
