package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.parallel.CollectiveException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The timeout of the operation in progress: the usual one, or a patient barrier's patience while it
 * runs.
 */
class OperationTimeoutTest {
  @Test
  void aPatientOperationHasItsPatienceOnlyWhileItRuns() {
    OperationTimeout t = new OperationTimeout(Duration.ofSeconds(30));
    assertThat(t.now()).isEqualTo(Duration.ofSeconds(30));
    List<Duration> inside = new ArrayList<>();
    t.patiently(Duration.ofMinutes(30), () -> inside.add(t.now()));
    assertThat(inside).containsExactly(Duration.ofMinutes(30));
    assertThat(t.now()).isEqualTo(Duration.ofSeconds(30));
    assertThatThrownBy(() ->
            t.patiently(
                Duration.ofMinutes(5),
                () -> {
                  throw new CollectiveException("lost");
                }))
        .hasMessage("lost");
    assertThat(t.now()).isEqualTo(Duration.ofSeconds(30));
  }
}
