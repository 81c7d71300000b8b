package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.backend.TunedKernel;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Tuned blockings change speed, never results: a training step's loss and every gradient are the
 * same bits with every product on a blocking other than the default, for tiny, small and an odd
 * shape (width 320, 5 heads of 64).
 */
class TunedKernelsTest {
  /** Blockings unlike the default in every tunable part (the default is mr=12 or 6, 132, 1024). */
  private static final String[] CHOICES = {
    "mr=6 mc=72 nc=512 grid=1x2", "mr=6 mc=264 nc=2048 grid=2x1", "mr=6 mc=66 nc=512 grid=auto"
  };

  @Test
  void tinyComputesTheSameBitsOnTunedBlockings() {
    sameBits(LlamaConfig.preset("tiny"), 2, 24);
  }

  @Test
  void smallComputesTheSameBitsOnTunedBlockings() {
    sameBits(LlamaConfig.preset("small"), 1, 40);
  }

  @Test
  void anOddShapeComputesTheSameBitsOnTunedBlockings() {
    LlamaConfig tiny = LlamaConfig.preset("tiny");
    LlamaConfig odd =
        new LlamaConfig(320, 2, 5, 5, LlamaConfig.ffnDim(320, 32, null), 1000, 1e-5f, 10000f, 64);
    assertThat(odd.headDim()).isEqualTo(64);
    assertThat(tiny.dim()).isNotEqualTo(odd.dim());
    sameBits(odd, 3, 13);
  }

  private static void sameBits(LlamaConfig c, int batch, int seq) {
    List<GemmShape> shapes = KernelShapes.training(c, batch * seq, Precision.FP32);
    List<TunedKernel> tuned = new ArrayList<>();
    for (int i = 0; i < shapes.size(); i++) {
      tuned.add(new TunedKernel(shapes.get(i), CHOICES[i % CHOICES.length], 1, 1));
    }
    Step plain = step(c, batch, seq, List.of());
    Step other = step(c, batch, seq, tuned);
    assertThat(other.loss).isEqualTo(plain.loss);
    for (int i = 0; i < plain.gradients.length; i++) {
      if (Float.floatToRawIntBits(plain.gradients[i])
          != Float.floatToRawIntBits(other.gradients[i])) {
        throw new AssertionError(
            "gradient " + i + ": " + other.gradients[i] + " tuned, " + plain.gradients[i]);
      }
    }
  }

  private record Step(double loss, float[] gradients) {}

  private static Step step(LlamaConfig c, int batch, int seq, List<TunedKernel> tuned) {
    int[] tokens = new SplittableRandom(3).ints(batch * seq, 0, c.vocabSize()).toArray();
    int[] targets = new SplittableRandom(4).ints(batch * seq, 0, c.vocabSize()).toArray();
    try (Backend cpu = Backends.open("cpu", 2)) {
      cpu.useTuned(tuned);
      try (LlamaModel m = new LlamaModel(c, cpu, batch, seq, false)) {
        m.initialize(99);
        m.zeroGradients();
        double loss = m.forward(tokens, targets, 1f);
        m.backward();
        return new Step(loss, m.gradients().toArray(0, (int) m.layout().size()));
      }
    }
  }
}
