package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The same step gives bit-identical gradients every time, including the first runs while the JIT
 * compiles the kernels (which is what exact resume and repeatable runs rest on).
 */
class DeterminismTest {
  @Test
  void gradientsAreBitIdenticalFromColdToWarm() {
    LlamaConfig c =
        new LlamaConfig(32, 2, 4, 2, LlamaConfig.ffnDim(32, 32, null), 3000, 1e-5f, 10000f, 40);
    int batch = 2;
    int seq = 37;
    int[] tokens = new SplittableRandom(1).ints(batch * seq, 0, 3000).toArray();
    int[] targets = new SplittableRandom(2).ints(batch * seq, 0, 3000).toArray();
    float[] first = null;
    double firstLoss = 0;
    for (int run = 0; run < 8; run++) {
      try (Backend cpu = Backends.open("cpu", 3);
          LlamaModel m = new LlamaModel(c, cpu, batch, seq, false)) {
        m.initialize(1234);
        m.zeroGradients();
        double loss = m.forward(tokens, targets, 0.5f);
        m.backward();
        float[] grads = m.gradients().toArray(0, (int) m.layout().size());
        if (first == null) {
          first = grads;
          firstLoss = loss;
        } else {
          assertThat(loss).as("loss of run %d", run).isEqualTo(firstLoss);
          for (int i = 0; i < grads.length; i++) {
            if (Float.floatToRawIntBits(grads[i]) != Float.floatToRawIntBits(first[i])) {
              throw new AssertionError(
                  "run " + run + ": gradient " + i + " is " + grads[i] + ", first run " + first[i]);
            }
          }
        }
      }
    }
  }
}
