package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.parallel.QuietGroup;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link GroupTraffic} names exactly the collectives a split model calls: a group that counts them
 * (and sums nothing; the numbers do not matter here) against the traffic's list.
 */
class GroupTrafficTest {
  /** Rank 0 of 2 that counts each operation by kind and size. */
  private static final class Counting extends QuietGroup {
    final Map<String, Integer> calls = new LinkedHashMap<>();

    Counting() {
      super(0, 2, "counting");
    }

    private void count(String op, long floats) {
      calls.merge(op + " " + floats * Float.BYTES, 1, Integer::sum);
    }

    @Override
    public void broadcast(MemorySegment data, long bytes, int root) {
      calls.merge("broadcast", 1, Integer::sum);
    }

    @Override
    public void allReduceSum(MemorySegment floats, long count) {
      count(GroupTraffic.ALL_REDUCE, count);
    }

    @Override
    public void reduceScatterSum(MemorySegment floats, long count) {
      count(GroupTraffic.REDUCE_SCATTER, count);
    }

    @Override
    public void allGather(MemorySegment floats, long count) {
      count(GroupTraffic.ALL_GATHER, count);
    }
  }

  @ParameterizedTest(name = "sequence-parallel {0}, recompute {1}, {2}")
  @CsvSource({
    "false, false, 32",
    "false, true, 32",
    "true, false, 32",
    "true, true, 32",
    "true, false, bf16-mixed"
  })
  void theTrafficIsWhatAPassCalls(boolean sequenceParallel, boolean recompute, String precision) {
    LlamaConfig config = TensorParallelModelTest.MHA;
    Precision p = Precision.parse(precision);
    Counting group = new Counting();
    int batch = 2;
    int seq = 6;
    try (Backend backend = Backends.open("cpu", 1);
        LlamaModel model =
            new LlamaModel(config, backend, batch, seq, recompute, p, group, sequenceParallel)) {
      model.initialize(1);
      int[] tokens = new int[batch * seq];
      model.forward(tokens, tokens, 1f);
      model.backward();
    }
    GroupTraffic traffic = GroupTraffic.of(config, batch, seq, 2, sequenceParallel, recompute, p);
    Map<String, Integer> expected = new LinkedHashMap<>();
    for (GroupTraffic.Collectives c : traffic.collectives()) {
      expected.merge(c.operation() + " " + c.bytes(), c.count(), Integer::sum);
    }
    assertThat(group.calls).isEqualTo(expected);
    List<Long> sizes = new ArrayList<>(traffic.sizes());
    assertThat(sizes).isSorted().doesNotHaveDuplicates();
    assertThat(traffic.calls()).isEqualTo(group.calls.values().stream().mapToInt(i -> i).sum());
  }
}
