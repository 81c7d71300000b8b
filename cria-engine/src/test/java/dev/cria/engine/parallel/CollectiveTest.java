package dev.cria.engine.parallel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Sharding a buffer among the ranks, and the group of one, where every operation does nothing. */
class CollectiveTest {
  @Test
  void shardsSplitABufferInOrderAndTheGroupOfOneDoesNothing() {
    assertThat(Collective.shardStart(10, 3, 0)).isZero();
    assertThat(Collective.shardStart(10, 3, 1)).isEqualTo(3);
    assertThat(Collective.shardStart(10, 3, 2)).isEqualTo(6);
    assertThat(Collective.shardStart(10, 3, 3)).isEqualTo(10);
    assertThatThrownBy(() -> Collective.shardStart(Long.MAX_VALUE, 2, 2))
        .isInstanceOf(ArithmeticException.class);
    Collective three = new QuietGroup(0, 3, "none (a test)");
    assertThat(three.shard(10, 2)).isEqualTo(new Collective.Shard(6, 10));
    assertThat(three.shard(10, 2).size()).isEqualTo(4);

    Collective one = Collective.single();
    assertThat(one.rank()).isZero();
    assertThat(one.worldSize()).isEqualTo(1);
    assertThat(one.transport()).isEqualTo("none (one rank)");
    assertThat(one.shard(7, 0)).isEqualTo(new Collective.Shard(0, 7));
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(16);
      s.setAtIndex(ValueLayout.JAVA_FLOAT, 1, 2.5f);
      one.barrier();
      one.barrier(Duration.ofMinutes(1));
      one.broadcast(s, 16, 0);
      one.allReduceSum(s, 4);
      one.reduceScatterSum(s, 4);
      one.allGather(s, 4);
      one.abort("nobody waits");
      one.close();
      assertThat(s.getAtIndex(ValueLayout.JAVA_FLOAT, 1)).isEqualTo(2.5f);
    }
  }

  @Test
  void aCollectiveExceptionKeepsItsMessageAndCause() {
    Exception cause = new java.io.IOException("reset");
    assertThat(new CollectiveException("lost", cause)).hasCause(cause).hasMessage("lost");
    assertThat(new CollectiveException("timed out")).hasMessage("timed out").hasNoCause();
  }
}
