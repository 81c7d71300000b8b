package dev.cria.engine.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

import org.junit.jupiter.api.Test;

class LearningRateScheduleTest {
  @Test
  void warmupCosineFollowsNemo() {
    LearningRateSchedule s = new LearningRateSchedule.WarmupCosine(3e-3, 3e-4, 1, 3);
    // The values the PyTorch fixture's NeMo-formula schedule used.
    assertThat(s.at(0)).isCloseTo(0.0015, offset(1e-12));
    assertThat(s.at(1)).isCloseTo(0.003, offset(1e-12));
    assertThat(s.at(2)).isCloseTo(0.00165, offset(1e-12));
    assertThat(s.at(3)).isCloseTo(3e-4, offset(1e-12));
    assertThat(s.at(100)).isEqualTo(3e-4);
    LearningRateSchedule long_ = new LearningRateSchedule.WarmupCosine(1.0, 0.1, 10, 110);
    assertThat(long_.at(60)).isCloseTo(0.55, offset(1e-12));
    double previous = Double.MAX_VALUE;
    for (int step = 10; step <= 110; step++) {
      assertThat(long_.at(step)).isLessThanOrEqualTo(previous);
      previous = long_.at(step);
    }
  }

  @Test
  void constantAndValidation() {
    assertThat(new LearningRateSchedule.Constant(0.1).at(12345)).isEqualTo(0.1);
    assertThatThrownBy(() -> new LearningRateSchedule.WarmupCosine(1, 2, 0, 10))
        .hasMessageContaining("min lr");
    assertThatThrownBy(() -> new LearningRateSchedule.WarmupCosine(1, 0, 10, 10))
        .hasMessageContaining("warmup");
  }
}
