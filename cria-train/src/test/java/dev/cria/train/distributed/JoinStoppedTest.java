package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.parallel.CollectiveException;
import org.junit.jupiter.api.Test;

/** A join that a signal stopped is a collective failure that says why. */
class JoinStoppedTest {
  @Test
  void aStoppedJoinSaysWhy() {
    assertThat(new JoinStopped())
        .isInstanceOf(CollectiveException.class)
        .hasMessage("stopped while joining the group (SIGINT or SIGTERM)");
  }
}
