package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The collective benchmark's arithmetic and formats: bandwidths as nccl-tests computes them, the
 * lines it prints, the sizes it reads, and a run's results on a group that records.
 */
class CollectiveBenchmarkTest {
  @Test
  void busBandwidthScalesTheAlgorithmBandwidthAsNcclTestsDoes() {
    var allReduce =
        new CollectiveBenchmark.Result(
            "tcp (a ring of 4 ranks)", "all-reduce", 8_000_000, 4, 0.002);
    assertThat(allReduce.algorithmBandwidth()).isEqualTo(8_000_000 / 0.002);
    assertThat(allReduce.busBandwidth()).isEqualTo(8_000_000 / 0.002 * (2 * 3.0 / 4));
    var gather = new CollectiveBenchmark.Result("shm", "all-gather", 1000, 5, 0.5);
    assertThat(gather.busBandwidth()).isEqualTo(2000 * (4.0 / 5));
    var scatter = new CollectiveBenchmark.Result("shm", "reduce-scatter", 1000, 2, 0.5);
    assertThat(scatter.busBandwidth()).isEqualTo(2000 * 0.5);
    assertThat(allReduce.kind()).isEqualTo("tcp");
    assertThat(gather.kind()).isEqualTo("shm");
  }

  @Test
  void aResultIsOneLineOfJsonAndTravelsOverTheWireUnchanged() {
    var r = new CollectiveBenchmark.Result("tcp \"ring\" \\ 2", "all-reduce", 4096, 2, 0.25);
    assertThat(r.toJson())
        .isEqualTo(
            "{\"collective\":\"tcp\",\"transport\":\"tcp \\\"ring\\\" \\\\ 2\",\"operation\":"
                + "\"all-reduce\",\"bytes\":4096,\"ranks\":2,\"seconds\":0.250000000,"
                + "\"algbw_gbps\":0.0000,\"busbw_gbps\":0.0000}");
    var big = new CollectiveBenchmark.Result("shm (2 ranks)", "all-gather", 1L << 30, 2, 0.5);
    assertThat(big.toJson()).contains("\"algbw_gbps\":2.1475,\"busbw_gbps\":1.0737}");
    assertThat(r.toWire()).isEqualTo("result\ttcp \"ring\" \\ 2\tall-reduce\t4096\t2\t0.25");
    assertThat(CollectiveBenchmark.Result.fromWire(r.toWire())).isEqualTo(r);
    assertThat(CollectiveBenchmark.Result.fromWire("a log line")).isNull();
    assertThat(CollectiveBenchmark.Result.fromWire("other\tt\to\t1\t2\t3")).isNull();
    assertThat(CollectiveBenchmark.Result.fromWire("result\tt\to\t1\t2")).isNull();
  }

  @Test
  void smallerOperationsAreTimedMoreOften() {
    assertThat(CollectiveBenchmark.iterations(4)).isEqualTo(200);
    assertThat(CollectiveBenchmark.iterations(64 << 10)).isEqualTo(200);
    assertThat(CollectiveBenchmark.iterations((64 << 10) + 4)).isEqualTo(50);
    assertThat(CollectiveBenchmark.iterations(1 << 20)).isEqualTo(50);
    assertThat(CollectiveBenchmark.iterations((1 << 20) + 4)).isEqualTo(10);
    assertThat(CollectiveBenchmark.iterations(16 << 20)).isEqualTo(10);
    assertThat(CollectiveBenchmark.iterations((16 << 20) + 4)).isEqualTo(4);
  }

  @Test
  void sizesAreBytesWithBinarySuffixesInWholeFloats() {
    assertThat(CollectiveBenchmark.parseSize("4")).isEqualTo(4);
    assertThat(CollectiveBenchmark.parseSize(" 64k ")).isEqualTo(65536);
    assertThat(CollectiveBenchmark.parseSize("16M")).isEqualTo(16L << 20);
    assertThat(CollectiveBenchmark.parseSize("1G")).isEqualTo(1L << 30);
    assertThat(CollectiveBenchmark.parseSize("2KiB")).isEqualTo(2048);
    assertThat(CollectiveBenchmark.parseSize("3mb")).isEqualTo(3L << 20);
    assertThat(CollectiveBenchmark.parseSize("8B")).isEqualTo(8);
    for (String bad : List.of("0", "6", "-4")) {
      assertThatThrownBy(() -> CollectiveBenchmark.parseSize(bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("size '" + bad + "' must be a positive multiple of 4 bytes (whole floats)");
    }
    for (String bad : List.of("x", "9999999999G", "K")) {
      assertThatThrownBy(() -> CollectiveBenchmark.parseSize(bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("size '" + bad + "' is not a number of bytes (4, 64K, 16M)");
    }
  }

  /** Rank 0 of 2 whose peer is always 5 s slower, and whose warm-up rank 0 ends at once. */
  static final class SlowPeer extends RecordingGroup {
    SlowPeer() {
      super(0, 2);
    }

    @Override
    public void broadcast(MemorySegment data, long bytes, int root) {
      super.broadcast(data, bytes, root);
      data.set(ValueLayout.JAVA_FLOAT, 0, 1f);
    }

    @Override
    public void allGather(MemorySegment floats, long count) {
      super.allGather(floats, count);
      if (count == 2) {
        floats.setAtIndex(ValueLayout.JAVA_FLOAT, 1, 5f);
      }
    }
  }

  @Test
  void aRunTimesEveryOperationAtEverySizeAndReportsTheSlowestRank() {
    SlowPeer group = new SlowPeer();
    List<CollectiveBenchmark.Result> seen = new ArrayList<>();
    List<CollectiveBenchmark.Result> results =
        CollectiveBenchmark.run(group, List.of(8L, 64L), seen::add);
    assertThat(results).isEqualTo(seen).hasSize(6);
    int i = 0;
    for (String op : CollectiveBenchmark.OPERATIONS) {
      for (long bytes : List.of(8L, 64L)) {
        CollectiveBenchmark.Result r = results.get(i++);
        assertThat(r.operation()).isEqualTo(op);
        assertThat(r.bytes()).isEqualTo(bytes);
        assertThat(r.ranks()).isEqualTo(2);
        assertThat(r.transport()).isEqualTo("recording");
        assertThat(r.seconds()).isEqualTo(5.0);
      }
    }
    List<String> calls = group.calls();
    // one warm-up round (rank 0 says stop), then 2 + 3 trials of 200 operations of each kind
    // and size
    int trials = CollectiveBenchmark.TRIALS;
    assertThat(calls.stream().filter(c -> c.startsWith("broadcast"))).hasSize(1);
    assertThat(calls.stream().filter(c -> c.startsWith("barrier"))).hasSize(6 * trials);
    // the warm-up uses the whole buffer (64 bytes), the timed ones a slice of the size timed
    assertThat(calls.stream().filter(c -> c.equals("allReduceSum 0+64 2"))).hasSize(1);
    assertThat(calls.stream().filter(c -> c.equals("allReduceSum 0+8 2")))
        .hasSize(2 + 200 * trials);
    assertThat(calls.stream().filter(c -> c.equals("reduceScatterSum 0+64 16")))
        .hasSize(1 + 2 + 200 * trials);
    // and the times are gathered once per trial of an operation and size: 8 bytes, 2 floats
    assertThat(calls.stream().filter(c -> c.equals("allGather 0+8 2")))
        .hasSize(2 + 200 * trials + 6 * trials);
    assertThat(CollectiveBenchmark.OPERATIONS)
        .containsExactly("all-reduce", "reduce-scatter", "all-gather");
  }
}
