package dev.cria.engine.optim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** Clipping as PyTorch's clip_grad_norm_: scaled by maxNorm / (norm + 1e-6) only when above. */
class GradientClippingTest {
  @Test
  void aNormAboveTheBoundIsScaledByPyTorchsCoefficientAndOneBelowIsLeft() {
    try (Backend cpu = Backends.open("cpu", 1)) {
      Floats g = Floats.allocate(Arena.global(), 37);
      g.set(3, 1.2f);
      g.set(36, -1.6f); // norm 2
      double norm = GradientClipping.clip(cpu.kernels(), g, 1.0);
      assertThat(norm).isCloseTo(2.0, org.assertj.core.data.Offset.offset(1e-6));
      float coefficient = (float) (1.0 / (norm + 1e-6));
      assertThat(g.get(3)).isEqualTo(1.2f * coefficient);
      assertThat(g.get(36)).isEqualTo(-1.6f * coefficient);
      assertThat(g.get(0)).isZero();

      double again = GradientClipping.clip(cpu.kernels(), g, 10.0);
      assertThat(again).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
      assertThat(g.get(3)).as("below the bound: untouched").isEqualTo(1.2f * coefficient);
    }
  }
}
