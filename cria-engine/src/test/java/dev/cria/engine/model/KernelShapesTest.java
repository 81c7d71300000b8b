package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.backend.Kernels;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class KernelShapesTest {

  @Test
  void listsExactlyTheProductsATrainingStepRuns() {
    // grouped queries (kv 16 != dim 32), an FFN and a vocabulary of their own sizes
    LlamaConfig c = new LlamaConfig(32, 2, 4, 2, 96, 300, 1e-5f, 10000f, 40);
    for (boolean recompute : new boolean[] {false, true}) {
      Set<GemmShape> ran = recordStep(c, 3, 7, recompute);
      assertThat(KernelShapes.training(c, 21, Precision.FP32))
          .as("recompute %s", recompute)
          .containsExactlyInAnyOrderElementsOf(ran);
    }
  }

  @Test
  void sharedSizesAreListedOnce() {
    // q, k, v, o all dim -> dim and no grouping: 3 products each for attention, gate/up, down, head
    assertThat(KernelShapes.training(LlamaConfig.preset("tiny"), 256, Precision.FP32))
        .hasSize(12)
        .doesNotHaveDuplicates();
    assertThat(KernelShapes.training(LlamaConfig.preset("llama2-70b"), 4096, Precision.FP32))
        .hasSize(15);
    assertThatThrownBy(() -> KernelShapes.training(LlamaConfig.preset("tiny"), 0, Precision.FP32))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void bf16MixedHasNoFp32ProductsToTune() {
    // its linear layers multiply on the bf16 product, which picks its own kernels
    assertThat(KernelShapes.training(LlamaConfig.preset("tiny"), 256, Precision.BF16_MIXED))
        .isEmpty();
  }

  /** The GEMM shapes of one forward and backward pass, seen through a recording backend. */
  private static Set<GemmShape> recordStep(LlamaConfig c, int batch, int seq, boolean recompute) {
    Set<GemmShape> seen = new LinkedHashSet<>();
    try (Backend cpu = Backends.open("cpu", 1)) {
      Kernels real = cpu.kernels();
      Kernels recording =
          (Kernels)
              Proxy.newProxyInstance(
                  Kernels.class.getClassLoader(),
                  new Class<?>[] {Kernels.class},
                  (proxy, method, args) -> {
                    if (method.getName().equals("linearForward")) {
                      seen.add(
                          GemmShape.LinearProduct.FORWARD.shape(
                              (int) args[3], (int) args[4], (int) args[5]));
                    } else if (method.getName().equals("linearBackward")) {
                      for (GemmShape.LinearProduct p :
                          List.of(
                              GemmShape.LinearProduct.INPUT_GRADIENT,
                              GemmShape.LinearProduct.WEIGHT_GRADIENT)) {
                        seen.add(p.shape((int) args[6], (int) args[7], (int) args[8]));
                      }
                    }
                    try {
                      return method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                      throw e.getCause();
                    }
                  });
      Backend wrapped = new Wrapped(cpu, recording);
      int[] tokens = new SplittableRandom(1).ints(batch * seq, 0, c.vocabSize()).toArray();
      try (LlamaModel m = new LlamaModel(c, wrapped, batch, seq, recompute)) {
        m.initialize(7);
        m.zeroGradients();
        m.forward(tokens, tokens, 1f);
        m.backward();
      }
    }
    return seen;
  }

  private record Wrapped(Backend inner, Kernels kernels) implements Backend {
    @Override
    public String name() {
      return inner.name();
    }

    @Override
    public String description() {
      return inner.description();
    }

    @Override
    public int threads() {
      return inner.threads();
    }

    @Override
    public Buffers buffers() {
      return inner.buffers();
    }

    @Override
    public double measurePeakGflops(double seconds) {
      return inner.measurePeakGflops(seconds);
    }

    @Override
    public void close() {}
  }
}
