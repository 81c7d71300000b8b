package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.parallel.Collective;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A counted group counts the operations this rank enters and passes everything on. */
class CountedCollectiveTest {
  @Test
  void aCountedGroupCountsEveryOperationEnteredAndPassesEverythingOn() {
    RecordingGroup inner = new RecordingGroup(1, 3);
    CountedCollective c = CountedCollective.of(inner);
    assertThat(CountedCollective.of(c)).isSameAs(c);
    assertThat(c.rank()).isEqualTo(1);
    assertThat(c.worldSize()).isEqualTo(3);
    assertThat(c.transport()).isEqualTo("recording");
    assertThat(c.shard(10, 1)).isEqualTo(new Collective.Shard(3, 6));
    assertThat(c.entered()).isZero();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(16);
      inner.base = s;
      c.barrier();
      assertThat(c.entered()).isEqualTo(1);
      c.barrier(Duration.ofSeconds(90));
      assertThat(c.entered()).isEqualTo(2);
      c.broadcast(s, 8, 2);
      assertThat(c.entered()).isEqualTo(3);
      c.allReduceSum(s, 4);
      assertThat(c.entered()).isEqualTo(4);
      c.reduceScatterSum(s, 3);
      assertThat(c.entered()).isEqualTo(5);
      c.allGather(s, 2);
      assertThat(c.entered()).isEqualTo(6);
      c.abort("why");
      c.close();
      assertThat(c.entered()).isEqualTo(6);
    }
    assertThat(inner.calls())
        .containsExactly(
            "barrier",
            "barrier 90s",
            "broadcast(2) 0+16 8",
            "allReduceSum 0+16 4",
            "reduceScatterSum 0+16 3",
            "allGather 0+16 2",
            "abort why",
            "close");
  }
}
