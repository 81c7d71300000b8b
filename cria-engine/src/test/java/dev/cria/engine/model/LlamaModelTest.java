package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.HostBuffers;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.GradientClipping;
import dev.cria.engine.reference.ReferenceBackend;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LlamaModelTest {
  static final LlamaConfig SMALL = new LlamaConfig(32, 2, 4, 2, 64, 64, 1e-5f, 10000f, 64);

  @Test
  void backwardAnnouncesEveryBlockOfGradientsOnceFromTheLastToTheFirst() {
    LlamaConfig c = new LlamaConfig(16, 3, 2, 2, 32, 50, 1e-5f, 10000f, 8);
    try (Backend cpu = Backends.open("cpu", 2);
        LlamaModel m = new LlamaModel(c, cpu, 2, 8, false)) {
      m.initialize(3);
      int[] tokens = new Random(1).ints(16, 0, 50).toArray();
      m.forward(tokens, tokens, 1f);
      java.util.List<long[]> blocks = new java.util.ArrayList<>();
      m.backward((from, to) -> blocks.add(new long[] {from, to}));
      assertThat(blocks).hasSize(c.layers() + 2);
      assertThat(blocks.getFirst()[1]).isEqualTo(m.layout().size());
      assertThat(blocks.getLast()[0]).isZero();
      for (int i = 1; i < blocks.size(); i++) {
        assertThat(blocks.get(i)[1]).isEqualTo(blocks.get(i - 1)[0]); // contiguous, walking down
      }
    }
  }

  @Test
  void forwardAsksForEveryBlockOfParametersOnceFromTheFirstToTheLastBeforeReadingIt() {
    LlamaConfig c = new LlamaConfig(16, 3, 2, 2, 32, 50, 1e-5f, 10000f, 8);
    try (Backend cpu = Backends.open("cpu", 2);
        LlamaModel m = new LlamaModel(c, cpu, 2, 8, false)) {
      m.initialize(3);
      int[] tokens = new Random(1).ints(16, 0, 50).toArray();
      double plain = m.forward(tokens, tokens, 1f);
      java.util.List<long[]> blocks = new java.util.ArrayList<>();
      double asked = m.forward(tokens, tokens, 1f, (from, to) -> blocks.add(new long[] {from, to}));
      assertThat(asked).isEqualTo(plain);
      assertThat(blocks).hasSize(c.layers() + 2);
      assertThat(blocks.getFirst()[0]).as("the embeddings first").isZero();
      assertThat(blocks.getLast()[1]).as("the head last").isEqualTo(m.layout().size());
      for (int i = 1; i < blocks.size(); i++) {
        assertThat(blocks.get(i)[0]).isEqualTo(blocks.get(i - 1)[1]); // contiguous, walking up
      }
    }
  }

  @Test
  void everySizeMustBePositiveAndTheFfnRuleGivesLlamasSizes() {
    for (int field = 0; field < 8; field++) {
      int[] v = {16, 3, 2, 2, 32, 50, 8};
      float eps = 1e-5f;
      if (field < 7) {
        v[field] = 0;
      } else {
        eps = 0;
      }
      int[] s = v;
      float e = eps;
      assertThatThrownBy(() -> new LlamaConfig(s[0], s[1], s[2], s[3], s[4], s[5], e, 1e4f, s[6]))
          .as("field %d", field)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("invalid Llama config: ");
    }
    assertThat(new LlamaConfig(2, 1, 1, 1, 1, 1, 1e-5f, 1e4f, 1).dim()).isEqualTo(2);
    assertThat(LlamaConfig.ffnDim(4096, 256, null)).as("Llama-2 7B").isEqualTo(11008);
    assertThat(LlamaConfig.ffnDim(5120, 256, null)).as("Llama-2 13B").isEqualTo(13824);
    assertThat(LlamaConfig.ffnDim(8192, 4096, 1.3)).as("Llama-2 70B").isEqualTo(28672);
    assertThat(LlamaConfig.ffnDim(4096, 1024, 1.3)).as("Llama-3 8B").isEqualTo(14336);
    assertThat(LlamaConfig.ffnDim(96, 1, null)).as("no rounding").isEqualTo(256);
  }

  @Test
  void bytesAreWhatTheModelAllocatesTokenIdsIncluded() {
    for (Precision precision : Precision.values()) {
      long before = HostBuffers.liveBytes();
      try (Backend backend = Backends.open("cpu", 1);
          LlamaModel m = new LlamaModel(SMALL, backend, 2, 8, false, precision)) {
        m.initialize(3);
        int[] tokens = new Random(4).ints(16, 0, 64).toArray();
        m.forward(tokens, tokens, 1f); // mixed precision allocates its bf16 copy here
        assertThat(HostBuffers.liveBytes() - before).as(precision.name()).isEqualTo(m.bytes());
      }
    }
  }

  @Test
  void ninetyPercentOfTheMachineIsTheLimitCountingMomentsActivationsAndTheExtra() {
    LlamaConfig c = new LlamaConfig(16, 3, 2, 2, 32, 50, 1e-5f, 10000f, 8);
    long parameters = new ParameterLayout(c).size();
    long activations = new ActivationLayout(c, 2, 8, false).size;
    long ids = 2 * 16 * Integer.BYTES; // the micro-batch's token rows and targets, i32
    long expected = (2 * parameters + activations) * Float.BYTES + ids;
    assertThat(LlamaModel.bytesNeeded(c, 2, 8, false)).isEqualTo(expected);
    long needed = expected + 2 * parameters * Float.BYTES + 1000; // and the Adam moments
    long exactly = needed * 10 / 9 + 1; // 90% of it is the need, rounded up
    LlamaModel.requireMemoryFor(c, 2, 8, 1000, "a buffer", exactly);
    assertThatThrownBy(() -> LlamaModel.requireMemoryFor(c, 2, 8, 1000, "a buffer", exactly - 2))
        .hasMessageContaining("activations, a buffer)");
    assertThatThrownBy(() -> LlamaModel.requireMemoryFor(c, 2, 8, 0, "a buffer", exactly - 2000))
        .hasMessageContaining("Adam moments, activations) but");
  }

  @Test
  void aModelTooLargeForTheMachineIsRefusedWithTheNumbers() {
    assertThatThrownBy(() -> LlamaModel.requireMemoryFor(LlamaConfig.preset("llama2-70b"), 1, 4096))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageMatching(
            "this model and micro-batch need \\d+\\.\\d GB .* but the machine has \\d+\\.\\d GB; .*");
    LlamaModel.requireMemoryFor(LlamaConfig.preset("tiny"), 8, 256);
  }

  @Test
  void publishedShapesHaveTheirPublishedSizes() {
    assertThat(LlamaConfig.preset("llama2-7b").parameterCount()).isEqualTo(6_738_415_616L);
    assertThat(LlamaConfig.preset("llama2-13b").parameterCount()).isEqualTo(13_015_864_320L);
    assertThat(LlamaConfig.preset("llama2-70b").parameterCount()).isEqualTo(68_976_648_192L);
    assertThat(LlamaConfig.preset("llama2-70b").ffnDim()).isEqualTo(28672);
    assertThat(LlamaConfig.preset("tiny").ffnDim()).isEqualTo(768);
    assertThat(LlamaConfig.preset("small").ffnDim()).isEqualTo(1376);
    assertThatThrownBy(() -> LlamaConfig.preset("huge")).hasMessageContaining("llama2-7b");
  }

  @Test
  void layoutUsesLongOffsetsBeyondTwoToThe31() {
    ParameterLayout layout = new ParameterLayout(LlamaConfig.preset("llama2-7b"));
    assertThat(layout.size()).isEqualTo(6_738_415_616L).isGreaterThan(Integer.MAX_VALUE);
    ParameterLayout.Tensor head = layout.tensor("lm_head.weight");
    assertThat(head.end()).isEqualTo(layout.size());
    assertThat(head.offset()).isEqualTo(layout.lmHead()).isGreaterThan(Integer.MAX_VALUE);
    assertThat(layout.tensor("model.layers.31.mlp.down_proj.weight").rows()).isEqualTo(4096);
    assertThat(layout.tensor("model.norm.weight").weightDecay()).isFalse();
    assertThat(layout.tensors()).hasSize(1 + 32 * 9 + 2);
  }

  @Test
  void initializationIsSeededAndScaledAsMegatron() {
    LlamaConfig c = new LlamaConfig(64, 4, 4, 4, 128, 100, 1e-5f, 10000f, 16);
    try (LlamaModel a = new LlamaModel(c, new ReferenceBackend(), 1, 4, false);
        LlamaModel b = new LlamaModel(c, new ReferenceBackend(), 1, 4, false)) {
      a.initialize(7);
      b.initialize(7);
      assertThat(a.parameters().toArray(0, (int) a.layout().size()))
          .containsExactly(b.parameters().toArray(0, (int) b.layout().size()));
      assertThat(std(a, "model.layers.0.self_attn.q_proj.weight"))
          .isCloseTo(0.02, org.assertj.core.data.Offset.offset(0.002));
      assertThat(std(a, "model.layers.0.mlp.down_proj.weight"))
          .isCloseTo(0.02 / Math.sqrt(8), org.assertj.core.data.Offset.offset(0.001));
      ParameterLayout.Tensor norm = a.layout().tensor("model.layers.2.input_layernorm.weight");
      assertThat(a.parameters().toArray(norm.offset(), (int) norm.size())).containsOnly(1f);
      b.initialize(8);
      assertThat(b.parameters().get(0)).isNotEqualTo(a.parameters().get(0));
    }
  }

  @Test
  void initializationTakesNemosStdAndScaledSwitch() {
    LlamaConfig c = new LlamaConfig(64, 4, 4, 4, 128, 100, 1e-5f, 10000f, 16);
    try (LlamaModel plain = new LlamaModel(c, new ReferenceBackend(), 1, 4, false);
        LlamaModel scaled = new LlamaModel(c, new ReferenceBackend(), 1, 4, false);
        LlamaModel usual = new LlamaModel(c, new ReferenceBackend(), 1, 4, false)) {
      plain.initialize(7, 0.05, false);
      scaled.initialize(7, 0.05, true);
      usual.initialize(7, 0.02, true);
      org.assertj.core.data.Offset<Double> close = org.assertj.core.data.Offset.offset(0.004);
      assertThat(std(plain, "model.layers.0.mlp.down_proj.weight")).isCloseTo(0.05, close);
      assertThat(std(scaled, "model.layers.0.mlp.down_proj.weight"))
          .isCloseTo(0.05 / Math.sqrt(8), org.assertj.core.data.Offset.offset(0.002));
      assertThat(std(scaled, "model.layers.0.self_attn.q_proj.weight")).isCloseTo(0.05, close);
      // the same draws, only scaled: std 0.02 scaled is what initialize(seed) gives
      try (LlamaModel byDefault = new LlamaModel(c, new ReferenceBackend(), 1, 4, false)) {
        byDefault.initialize(7);
        assertThat(byDefault.parameters().toArray(0, (int) c.parameterCount()))
            .containsExactly(usual.parameters().toArray(0, (int) c.parameterCount()));
      }
      assertThatThrownBy(() -> plain.initialize(1, 0, true)).hasMessageContaining("std");
    }
  }

  private static double std(LlamaModel m, String name) {
    ParameterLayout.Tensor t = m.layout().tensor(name);
    double ss = 0;
    for (long i = t.offset(); i < t.end(); i++) {
      ss += m.parameters().get(i) * m.parameters().get(i);
    }
    return Math.sqrt(ss / t.size());
  }

  @Test
  void lossFallsToNearZeroWhenOneBatchIsRepeated() {
    try (Backend p = Backends.open("cpu", 2);
        LlamaModel model = new LlamaModel(SMALL, p, 2, 16, false);
        AdamW adam = new AdamW(model.layout(), AdamW.Settings.llama(), p)) {
      model.initialize(1);
      Kernels kernels = p.kernels();
      Random r = new Random(5);
      int[] tokens = r.ints(32, 0, 64).toArray();
      int[] targets = r.ints(32, 0, 64).toArray();
      double first = 0;
      double last = 0;
      for (int step = 0; step < 200; step++) {
        model.zeroGradients();
        last = model.forward(tokens, targets, 1f);
        if (step == 0) {
          first = last;
        }
        model.backward();
        GradientClipping.clip(kernels, model.gradients(), 1.0);
        adam.step(model.parameters(), model.gradients(), 1e-2);
      }
      assertThat(first).isCloseTo(Math.log(64), org.assertj.core.data.Offset.offset(0.2));
      assertThat(last).isLessThan(0.05);
    }
  }

  @Test
  void rejectsBadInputsWithClearMessages() {
    try (LlamaModel model = new LlamaModel(SMALL, new ReferenceBackend(), 1, 4, false)) {
      assertThatThrownBy(() -> model.forward(new int[3], null, 1f))
          .hasMessageContaining("expected 4 tokens");
      assertThatThrownBy(() -> model.forward(new int[] {0, 1, 64, 2}, null, 1f))
          .hasMessageContaining("token id 64");
      assertThatThrownBy(() -> model.forward(new int[4], new int[] {-1, -1, -1, -1}, 1f))
          .hasMessageContaining("every target is -1");
      assertThatThrownBy(model::backward).hasMessageContaining("forward pass with targets");
    }
    assertThatThrownBy(() -> new LlamaModel(SMALL, new ReferenceBackend(), 1, 65, false))
        .hasMessageContaining("exceeds");
  }
}
