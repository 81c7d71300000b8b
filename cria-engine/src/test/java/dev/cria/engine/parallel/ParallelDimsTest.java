package dev.cria.engine.parallel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * Megatron's rank order for dp x tp: tensor-parallel ranks adjacent, data-parallel ranks tp apart.
 */
class ParallelDimsTest {
  /** Every layout of up to 64 ranks: each world size with each of its divisors as the tp. */
  private static List<ParallelDims> layouts() {
    List<ParallelDims> out = new ArrayList<>();
    for (int world = 1; world <= 64; world++) {
      for (int tp = 1; tp <= world; tp++) {
        if (world % tp == 0) {
          out.add(ParallelDims.of(world, tp));
        }
      }
    }
    return out;
  }

  @Test
  void twoReplicasOfFourRanksPutEachTensorGroupOnAdjacentRanks() {
    ParallelDims dims = new ParallelDims(2, 4);
    assertThat(dims.worldSize()).isEqualTo(8);
    assertThat(dims).hasToString("dp 2 x tp 4");
    assertThat(dims.tensorGroup(0)).containsExactly(0, 1, 2, 3);
    assertThat(dims.tensorGroup(1)).containsExactly(4, 5, 6, 7);
    assertThat(dims.dataGroup(0)).containsExactly(0, 4);
    assertThat(dims.dataGroup(1)).containsExactly(1, 5);
    assertThat(dims.dataGroup(2)).containsExactly(2, 6);
    assertThat(dims.dataGroup(3)).containsExactly(3, 7);
    assertThat(dims.tensorRank(6)).isEqualTo(2);
    assertThat(dims.dataRank(6)).isEqualTo(1);
    assertThat(dims.rankOf(1, 2)).isEqualTo(6);
  }

  @Test
  void ofSplitsTheWorldIntoReplicasOfTheTensorParallelSize() {
    assertThat(ParallelDims.of(8, 4)).isEqualTo(new ParallelDims(2, 4));
    assertThat(ParallelDims.of(8, 1)).isEqualTo(new ParallelDims(8, 1));
    assertThat(ParallelDims.of(8, 8)).isEqualTo(new ParallelDims(1, 8));
    assertThat(ParallelDims.of(1, 1)).hasToString("dp 1 x tp 1");
    assertThat(ParallelDims.of(12, 3).worldSize()).isEqualTo(12);
  }

  @Test
  void withoutTensorParallelismEveryRankIsItsOwnTensorGroupAndOneDataGroupHoldsAll() {
    ParallelDims dims = ParallelDims.of(4, 1);
    for (int r = 0; r < 4; r++) {
      assertThat(dims.tensorGroup(r)).containsExactly(r);
      assertThat(dims.tensorRank(r)).isZero();
      assertThat(dims.dataRank(r)).isEqualTo(r);
    }
    assertThat(dims.dataGroup(0)).containsExactly(0, 1, 2, 3);
  }

  @Test
  void withOnlyTensorParallelismOneTensorGroupHoldsAll() {
    ParallelDims dims = ParallelDims.of(4, 4);
    assertThat(dims.tensorGroup(0)).containsExactly(0, 1, 2, 3);
    for (int t = 0; t < 4; t++) {
      assertThat(dims.dataGroup(t)).containsExactly(t);
    }
  }

  @Test
  void theTensorGroupsPartitionTheRanksEachIntoAContiguousAscendingRun() {
    for (ParallelDims dims : layouts()) {
      List<Integer> seen = new ArrayList<>();
      for (int d = 0; d < dims.dataParallel(); d++) {
        int[] group = dims.tensorGroup(d);
        assertThat(group).as("%s, tensor group %d", dims, d).hasSize(dims.tensorParallel());
        assertThat(group)
            .as("%s, tensor group %d", dims, d)
            .containsExactly(
                IntStream.range(d * dims.tensorParallel(), (d + 1) * dims.tensorParallel())
                    .toArray());
        for (int r : group) {
          seen.add(r);
        }
      }
      assertThat(seen)
          .as("%s: every rank in exactly one tensor group", dims)
          .containsExactlyElementsOf(IntStream.range(0, dims.worldSize()).boxed().toList());
    }
  }

  @Test
  void theDataGroupsPartitionTheRanksEachAscendingTensorParallelApart() {
    for (ParallelDims dims : layouts()) {
      List<Integer> seen = new ArrayList<>();
      for (int t = 0; t < dims.tensorParallel(); t++) {
        int[] group = dims.dataGroup(t);
        assertThat(group).as("%s, data group %d", dims, t).hasSize(dims.dataParallel());
        assertThat(group).as("%s, data group %d", dims, t).isSorted();
        for (int d = 0; d < group.length; d++) {
          assertThat(group[d]).isEqualTo(t + d * dims.tensorParallel());
          seen.add(group[d]);
        }
      }
      assertThat(seen)
          .as("%s: every rank in exactly one data group", dims)
          .containsExactlyInAnyOrderElementsOf(
              IntStream.range(0, dims.worldSize()).boxed().toList());
    }
  }

  @Test
  void rankOfInvertsTensorRankAndDataRank() {
    for (ParallelDims dims : layouts()) {
      for (int r = 0; r < dims.worldSize(); r++) {
        int t = dims.tensorRank(r);
        int d = dims.dataRank(r);
        assertThat(t).isEqualTo(r % dims.tensorParallel()).isBetween(0, dims.tensorParallel() - 1);
        assertThat(d).isEqualTo(r / dims.tensorParallel()).isBetween(0, dims.dataParallel() - 1);
        assertThat(dims.rankOf(d, t)).as("%s, rank %d", dims, r).isEqualTo(r);
        assertThat(dims.tensorGroup(d)[t]).isEqualTo(r);
        assertThat(dims.dataGroup(t)[d]).isEqualTo(r);
      }
      for (int d = 0; d < dims.dataParallel(); d++) {
        for (int t = 0; t < dims.tensorParallel(); t++) {
          int r = dims.rankOf(d, t);
          assertThat(dims.dataRank(r)).isEqualTo(d);
          assertThat(dims.tensorRank(r)).isEqualTo(t);
        }
      }
    }
  }

  @Test
  void aGroupIsAFreshArrayEachTime() {
    ParallelDims dims = new ParallelDims(2, 2);
    dims.tensorGroup(0)[0] = 99;
    dims.dataGroup(0)[1] = 99;
    assertThat(dims.tensorGroup(0)).containsExactly(0, 1);
    assertThat(dims.dataGroup(0)).containsExactly(0, 2);
  }

  @Test
  void aTensorParallelSizeThatDoesNotDivideTheWorldIsRefusedNamingBoth() {
    assertThatThrownBy(() -> ParallelDims.of(8, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("tensor parallelism 3 does not divide the world size 8");
    assertThatThrownBy(() -> ParallelDims.of(4, 8))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("tensor parallelism 8 does not divide the world size 4");
  }

  @Test
  void sizesBelowOneAreRefused() {
    assertThatThrownBy(() -> new ParallelDims(0, 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("data parallelism 0 and tensor parallelism 4 must both be at least 1");
    assertThatThrownBy(() -> new ParallelDims(2, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("tensor parallelism 0");
    assertThatThrownBy(() -> new ParallelDims(-1, -1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> ParallelDims.of(0, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("the world size must be at least 1, not 0");
    assertThatThrownBy(() -> ParallelDims.of(8, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("tensor parallelism must be at least 1, not 0");
    assertThatThrownBy(() -> ParallelDims.of(8, -2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("tensor parallelism must be at least 1, not -2");
  }

  @Test
  void aWorldTooLargeToCountIsRefused() {
    assertThatThrownBy(() -> new ParallelDims(65536, 32768))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "data parallelism 65536 x tensor parallelism 32768 is more ranks than an int counts");
    assertThat(new ParallelDims(65536, 32767).worldSize()).isEqualTo(65536 * 32767);
  }

  @Test
  void ranksOutsideTheLayoutAreRefused() {
    ParallelDims dims = new ParallelDims(2, 4);
    assertThatThrownBy(() -> dims.tensorRank(8))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("rank 8 is not one of the 8 ranks of dp 2 x tp 4");
    assertThatThrownBy(() -> dims.dataRank(-1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> dims.rankOf(2, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("data rank 2 is not in [0, 2) for dp 2 x tp 4");
    assertThatThrownBy(() -> dims.rankOf(0, 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("tensor rank 4 is not in [0, 4) for dp 2 x tp 4");
    assertThatThrownBy(() -> dims.rankOf(0, -1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> dims.tensorGroup(2)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> dims.tensorGroup(-1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> dims.dataGroup(4)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> dims.dataGroup(-1)).isInstanceOf(IllegalArgumentException.class);
  }
}
