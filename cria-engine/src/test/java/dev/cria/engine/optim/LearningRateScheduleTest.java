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
  void withConstantStepsNemoTakesMegatronsWarmupAndHoldsTheMinimum() {
    // NeMo's CosineAnnealing with warmup 2, constant 3, max 10: decay over 10 - 2 - 3 = 5 steps
    LearningRateSchedule s = LearningRateSchedule.cosineAnnealing(1.0, 0.1, 2, 3, 10);
    assertThat(s).isInstanceOf(LearningRateSchedule.MegatronCosine.class);
    assertThat(s.at(0)).isEqualTo(0.0); // Megatron's warmup starts at 0: max * s / warmup
    assertThat(s.at(1)).isCloseTo(0.5, offset(1e-12));
    assertThat(s.at(2)).isCloseTo(1.0, offset(1e-12));
    // halfway through the decay (step 2 + 2.5): the mean of max and min
    assertThat(s.at(4)).isCloseTo(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 2 / 5)), offset(1e-12));
    assertThat(s.at(7)).isCloseTo(0.1, offset(1e-12)); // end of the decay
    for (int step = 8; step <= 12; step++) {
      assertThat(s.at(step)).isEqualTo(0.1); // held for the constant steps, and after
    }
    // without constant steps it is the schedule every run had before
    assertThat(LearningRateSchedule.cosineAnnealing(3e-3, 3e-4, 1, 0, 3))
        .isEqualTo(new LearningRateSchedule.WarmupCosine(3e-3, 3e-4, 1, 3));
    assertThatThrownBy(() -> LearningRateSchedule.cosineAnnealing(1, 0, 5, 5, 10))
        .hasMessageContaining("decay steps 0");
  }

  @Test
  void constantAndValidation() {
    assertThat(new LearningRateSchedule.Constant(0.1).at(12345)).isEqualTo(0.1);
    assertThatThrownBy(() -> new LearningRateSchedule.WarmupCosine(1, 2, 0, 10))
        .hasMessageContaining("min lr");
    assertThatThrownBy(() -> new LearningRateSchedule.WarmupCosine(1, 0, 10, 10))
        .hasMessageContaining("warmup");
    // the edges of what is allowed: no warmup, one step, a constant rate, a zero floor
    assertThat(new LearningRateSchedule.WarmupCosine(1, 1, 0, 1).at(0)).isEqualTo(1);
    assertThat(new LearningRateSchedule.WarmupCosine(2, 0, 0, 4).at(4)).isZero();
    assertThatThrownBy(() -> new LearningRateSchedule.WarmupCosine(1, 0, -1, 4))
        .hasMessageContaining("warmup -1");
    assertThatThrownBy(() -> new LearningRateSchedule.WarmupCosine(1, -0.5, 0, 4))
        .hasMessageContaining("lr -0.5..1");
    assertThat(new LearningRateSchedule.MegatronCosine(1, 1, 0, 1).at(0)).isEqualTo(1);
    assertThat(new LearningRateSchedule.MegatronCosine(2, 0, 0, 1).at(1)).isZero();
    assertThatThrownBy(() -> new LearningRateSchedule.MegatronCosine(1, 0, -1, 4))
        .hasMessageContaining("warmup -1");
    assertThatThrownBy(() -> new LearningRateSchedule.MegatronCosine(1, 2, 0, 4))
        .hasMessageContaining("min lr");
    assertThatThrownBy(() -> new LearningRateSchedule.MegatronCosine(1, -0.5, 0, 4))
        .hasMessageContaining("lr -0.5..1");
  }
}
