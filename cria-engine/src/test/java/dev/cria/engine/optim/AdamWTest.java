package dev.cria.engine.optim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * AdamW against PyTorch's update rule written out plainly, on tensor sizes that leave vector tails.
 */
class AdamWTest {
  @Test
  void matchesThePlainUpdateRuleAndSkipsDecayOnNorms() {
    // no tensor size is a multiple of the vector length, so every chunk ends in the scalar tail
    LlamaConfig c = new LlamaConfig(38, 1, 1, 1, 23, 37, 1e-5f, 10000f, 8);
    ParameterLayout layout = new ParameterLayout(c);
    int n = Math.toIntExact(layout.size());
    Random random = new Random(9);
    double[] p = new double[n];
    double[] m = new double[n];
    double[] v = new double[n];
    try (Backend cpu = Backends.open("cpu", 3);
        AdamW adam = new AdamW(layout, new AdamW.Settings(0.9, 0.95, 1e-8, 0.1), cpu)) {
      Floats params = Floats.allocate(Arena.global(), n);
      Floats grads = Floats.allocate(Arena.global(), n);
      for (int i = 0; i < n; i++) {
        p[i] = random.nextGaussian() * 0.02;
        params.set(i, (float) p[i]);
      }
      for (int step = 1; step <= 4; step++) {
        double lr = 1e-3 * step;
        for (int i = 0; i < n; i++) {
          float g = (float) (random.nextGaussian() * 0.01);
          grads.set(i, g);
        }
        adam.step(params, grads, lr);
        for (ParameterLayout.Tensor t : layout.tensors()) {
          double wd = t.weightDecay() ? 0.1 : 0;
          for (long i = t.offset(); i < t.end(); i++) {
            int k = (int) i;
            double g = grads.get(i);
            m[k] = 0.9 * m[k] + 0.1 * g;
            v[k] = 0.95 * v[k] + 0.05 * g * g;
            double mHat = m[k] / (1 - Math.pow(0.9, step));
            double vHat = v[k] / (1 - Math.pow(0.95, step));
            p[k] = p[k] * (1 - lr * wd) - lr * mHat / (Math.sqrt(vHat) + 1e-8);
          }
        }
      }
      assertThat(adam.steps()).isEqualTo(4);
      for (int i = 0; i < n; i++) {
        assertThat((double) params.get(i))
            .as("parameter %d", i)
            .isCloseTo(p[i], org.assertj.core.data.Offset.offset(2e-6));
      }
      ParameterLayout.Tensor norm = layout.tensor("model.norm.weight");
      assertThat(norm.weightDecay()).isFalse();
    }
  }

  @Test
  void shardsUpdateExactlyAsTheWholeAndTouchNothingElse() {
    LlamaConfig c = new LlamaConfig(38, 2, 1, 1, 23, 37, 1e-5f, 10000f, 8);
    ParameterLayout layout = new ParameterLayout(c);
    int n = Math.toIntExact(layout.size());
    Random random = new Random(4);
    Floats whole = Floats.allocate(Arena.global(), n);
    Floats sharded = Floats.allocate(Arena.global(), n);
    Floats grads = Floats.allocate(Arena.global(), n);
    for (int i = 0; i < n; i++) {
      whole.set(i, (float) (random.nextGaussian() * 0.02));
      sharded.set(i, whole.get(i));
    }
    long[] cuts = {0, n / 3 + 1, 2L * n / 3 - 5, n}; // shards that cut through tensors
    AdamW.Settings settings = new AdamW.Settings(0.9, 0.95, 1e-8, 0.1);
    try (Backend cpu = Backends.open("cpu", 2);
        AdamW full = new AdamW(layout, settings, cpu);
        AdamW a = new AdamW(layout, settings, cpu, cuts[0], cuts[1]);
        AdamW b = new AdamW(layout, settings, cpu, cuts[1], cuts[2]);
        AdamW d = new AdamW(layout, settings, cpu, cuts[2], cuts[3])) {
      for (int step = 1; step <= 3; step++) {
        for (int i = 0; i < n; i++) {
          grads.set(i, (float) (random.nextGaussian() * 0.01));
        }
        full.step(whole, grads, 1e-3);
        float before = sharded.get((int) cuts[1]);
        a.step(sharded, grads, 1e-3);
        assertThat(sharded.get((int) cuts[1]))
            .as("a shard leaves the next one alone")
            .isEqualTo(before);
        b.step(sharded, grads, 1e-3);
        d.step(sharded, grads, 1e-3);
      }
      for (int i = 0; i < n; i++) {
        assertThat(sharded.get(i)).as("parameter %d", i).isEqualTo(whole.get(i));
      }
      assertThat(a.stateBytes() + b.stateBytes() + d.stateBytes()).isEqualTo(full.stateBytes());
    }
  }

  @Test
  void aResumedOptimizerWithTheMomentsAndStepCountContinuesBitForBit() {
    LlamaConfig c = new LlamaConfig(38, 1, 1, 1, 23, 37, 1e-5f, 10000f, 8);
    ParameterLayout layout = new ParameterLayout(c);
    int n = Math.toIntExact(layout.size());
    Random random = new Random(11);
    Floats first = Floats.allocate(Arena.global(), n);
    Floats second = Floats.allocate(Arena.global(), n);
    Floats grads = Floats.allocate(Arena.global(), n);
    AdamW.Settings settings = new AdamW.Settings(0.9, 0.95, 1e-8, 0.1);
    long from = 7;
    long to = n - 3;
    try (Backend cpu = Backends.open("cpu", 2);
        AdamW running = new AdamW(layout, settings, cpu, from, to);
        AdamW resumed = new AdamW(layout, settings, cpu, from, to)) {
      assertThat(running.from()).isEqualTo(from);
      assertThat(running.to()).isEqualTo(to);
      assertThat(running.stateBytes()).isEqualTo(2 * (to - from) * Float.BYTES);
      for (int i = 0; i < n; i++) {
        first.set(i, (float) (random.nextGaussian() * 0.02));
      }
      for (int step = 1; step <= 3; step++) {
        for (int i = 0; i < n; i++) {
          grads.set(i, (float) (random.nextGaussian() * 0.01));
        }
        running.step(first, grads, 1e-3);
      }
      // what a checkpoint keeps: the parameters, both moments and the count of updates
      for (int i = 0; i < n; i++) {
        second.set(i, first.get(i));
      }
      for (long i = 0; i < to - from; i++) {
        resumed.firstMoment().set(i, running.firstMoment().get(i));
        resumed.secondMoment().set(i, running.secondMoment().get(i));
      }
      resumed.restoreSteps(running.steps());
      for (int i = 0; i < n; i++) {
        grads.set(i, (float) (random.nextGaussian() * 0.01));
      }
      running.step(first, grads, 1e-3);
      resumed.step(second, grads, 1e-3);
      for (int i = 0; i < n; i++) {
        assertThat(second.get(i)).as("parameter %d", i).isEqualTo(first.get(i));
      }
      // without the step count the bias correction is that of a first update: another result
      resumed.restoreSteps(0);
      resumed.step(second, grads, 1e-3);
      running.step(first, grads, 1e-3);
      assertThat(second.get((int) from)).isNotEqualTo(first.get((int) from));
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> resumed.restoreSteps(-1))
          .hasMessageContaining("got -1");
    }
  }

  @Test
  void aShardMustLieInsideTheParametersAndMayBeEmpty() {
    ParameterLayout layout =
        new ParameterLayout(new LlamaConfig(38, 1, 1, 1, 23, 37, 1e-5f, 1e4f, 8));
    AdamW.Settings settings = new AdamW.Settings(0.9, 0.95, 1e-8, 0.1);
    long n = layout.size();
    try (Backend cpu = Backends.open("cpu", 1)) {
      try (AdamW empty = new AdamW(layout, settings, cpu, 5, 5);
          AdamW last = new AdamW(layout, settings, cpu, n - 1, n)) {
        assertThat(empty.stateBytes()).isZero();
        assertThat(last.stateBytes()).isEqualTo(2 * Float.BYTES);
      }
      for (long[] bad : new long[][] {{6, 5}, {-1, 5}, {0, n + 1}}) {
        org.assertj.core.api.Assertions.assertThatThrownBy(
                () -> new AdamW(layout, settings, cpu, bad[0], bad[1]))
            .hasMessageStartingWith("shard [" + bad[0] + ", " + bad[1] + ") outside [0, " + n);
      }
    }
  }
}
