package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.StochasticRounding;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
import java.util.List;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * AdamW over a rank's shards: the global norm from the shards' squares summed over the ranks,
 * clipping that scales the own shards only, and the update each shard's AdamW makes, checked
 * against AdamW applied by hand to gradients scaled by hand.
 */
class ShardedAdamWTest {
  static final LlamaConfig SHAPE = new LlamaConfig(16, 2, 2, 2, 32, 40, 1e-5f, 10000f, 8);
  static final AdamW.Settings SETTINGS = AdamW.Settings.llama();

  final ParameterLayout layout = new ParameterLayout(SHAPE);
  final int n = Math.toIntExact(layout.size());
  final List<ParameterLayout.Range> shards =
      List.of(new ParameterLayout.Range(10, 300), new ParameterLayout.Range(900, 1500));
  Backend cpu;
  Arena arena;
  Floats parameters;
  Floats gradients;

  @BeforeEach
  void setUp() {
    cpu = Backends.open("cpu", 1);
    arena = Arena.ofShared();
    parameters = Floats.allocate(arena, n);
    gradients = Floats.allocate(arena, n);
    for (int i = 0; i < n; i++) {
      parameters.set(i, (float) Math.sin(i) / 10);
      gradients.set(i, (float) Math.cos(i) * 1e-4f);
    }
  }

  @AfterEach
  void tearDown() {
    arena.close();
    cpu.close();
  }

  private double squaresOfShards(Floats x) {
    double s = 0;
    for (ParameterLayout.Range r : shards) {
      for (long i = r.from(); i < r.to(); i++) {
        s += (double) x.get(i) * x.get(i);
      }
    }
    return s;
  }

  /** Parameters after AdamW over the shards, by separate AdamWs, from {@code scaled} gradients. */
  private float[] expectedAfterStep(float[] start, float[] scaled, double lr) {
    try (Arena a = Arena.ofConfined()) {
      Floats p = Floats.allocate(a, n);
      Floats g = Floats.allocate(a, n);
      p.copyFrom(start, 0);
      g.copyFrom(scaled, 0);
      for (ParameterLayout.Range r : shards) {
        try (AdamW one = new AdamW(layout, SETTINGS, cpu, r.from(), r.to())) {
          one.step(p, g, lr);
        }
      }
      return p.toArray(0, n);
    }
  }

  @Test
  void theOptimizerOfOneProcessHoldsEveryParameterAndOfARankOnlyItsShards() {
    try (ShardedAdamW whole = ShardedAdamW.whole(layout, SETTINGS, cpu)) {
      assertThat(whole.parts()).hasSize(1);
      assertThat(whole.parts().getFirst().from()).isZero();
      assertThat(whole.parts().getFirst().to()).isEqualTo(n);
      assertThat(whole.stateBytes()).isEqualTo(2L * n * 4);
    }
    try (ShardedAdamW over = ShardedAdamW.over(layout, SETTINGS, cpu, shards)) {
      assertThat(over.parts()).extracting(AdamW::from).containsExactly(10L, 900L);
      assertThat(over.parts()).extracting(AdamW::to).containsExactly(300L, 1500L);
      assertThat(over.stateBytes()).isEqualTo(2L * (290 + 600) * 4);
      double squares = squaresOfShards(parameters);
      assertThat(over.shardSquares(parameters)).isCloseTo(squares, Offset.offset(squares * 1e-6));
    }
  }

  @Test
  void theGlobalNormComesFromTheShardsAndTheOtherRanksAndClippingScalesTheOwnShardsOnly() {
    float[] before = gradients.toArray(0, n);
    float[] start = parameters.toArray(0, n);
    double others = 2e-6; // the other ranks' squares
    double clip = 1e-4;
    try (ShardedAdamW adam = ShardedAdamW.over(layout, SETTINGS, cpu, shards)) {
      double norm = adam.clipAndStep(parameters, gradients, 1e-3, clip, s -> s + others);
      double expectedNorm = Math.sqrt(squaresOfShards(Floats.of(before)) + others);
      assertThat(norm).isCloseTo(expectedNorm, Offset.offset(expectedNorm * 1e-6));
      assertThat(clip / (norm + 1e-6)).isLessThan(0.5);
      float factor = (float) (clip / (norm + 1e-6));
      float[] scaled = before.clone();
      for (ParameterLayout.Range r : shards) {
        for (int i = (int) r.from(); i < r.to(); i++) {
          scaled[i] = before[i] * factor;
        }
      }
      assertThat(gradients.toArray(0, n)).containsExactly(scaled);
      assertThat(parameters.toArray(0, n)).containsExactly(expectedAfterStep(start, scaled, 1e-3));
      assertThat(adam.parts()).allMatch(p -> p.steps() == 1);
    }
  }

  @Test
  void aNormBelowTheClipOrNoClipLeavesTheGradientsAsTheyAre() {
    float[] before = gradients.toArray(0, n);
    float[] start = parameters.toArray(0, n);
    try (ShardedAdamW adam = ShardedAdamW.over(layout, SETTINGS, cpu, shards)) {
      double norm = adam.clipAndStep(parameters, gradients, 1e-3, 1.0, s -> s);
      double expectedNorm = Math.sqrt(squaresOfShards(gradients));
      assertThat(norm).isCloseTo(expectedNorm, Offset.offset(expectedNorm * 1e-6));
      assertThat(gradients.toArray(0, n)).containsExactly(before);
      assertThat(parameters.toArray(0, n)).containsExactly(expectedAfterStep(start, before, 1e-3));
    }
    parameters.copyFrom(start, 0);
    try (ShardedAdamW adam = ShardedAdamW.over(layout, SETTINGS, cpu, shards)) {
      adam.clipAndStep(parameters, gradients, 1e-3, 0, s -> s + 1e6); // a huge norm, no clip
      assertThat(gradients.toArray(0, n)).containsExactly(before);
    }
  }

  @Test
  void closingFreesEveryShardsMoments() {
    ShardedAdamW adam = ShardedAdamW.over(layout, SETTINGS, cpu, shards);
    AdamW second = adam.parts().get(1);
    adam.close();
    assertThatThrownBy(() -> second.firstMoment().get(0)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void underBf16SrThePartsShareOneWorkingBufferAndUpdateAsOneOptimizerOverEverything() {
    StochasticRounding sr = new StochasticRounding(11);
    List<ParameterLayout.Range> parts =
        List.of(
            new ParameterLayout.Range(0, 100),
            new ParameterLayout.Range(100, 777),
            new ParameterLayout.Range(777, n));
    Floats other = Floats.allocate(arena, n);
    other.copyFrom(parameters, 0, 0, n);
    Floats otherGradients = Floats.allocate(arena, n);
    try (ShardedAdamW whole = ShardedAdamW.whole(layout, SETTINGS, cpu, sr);
        ShardedAdamW split = ShardedAdamW.over(layout, SETTINGS, cpu, parts, sr)) {
      whole.store(parameters);
      split.store(other);
      for (int step = 1; step <= 3; step++) {
        for (int i = 0; i < n; i++) {
          float g = (float) Math.cos(i * step) * 1e-3f;
          gradients.set(i, g);
          otherGradients.set(i, g);
        }
        whole.clipAndStep(parameters, gradients, 1e-3, 0, x -> x);
        split.clipAndStep(other, otherGradients, 1e-3, 0, x -> x);
      }
      for (int i = 0; i < n; i++) {
        assertThat(other.get(i)).as("parameter %d", i).isEqualTo(parameters.get(i));
      }
      AdamW all = whole.parts().getFirst();
      for (AdamW part : split.parts()) {
        assertThat(part.firstMoment().dtype()).isEqualTo(dev.cria.engine.tensor.DType.BF16);
        for (long i = part.from(); i < part.to(); i++) {
          assertThat(part.firstMoment().get(i - part.from())).isEqualTo(all.firstMoment().get(i));
          assertThat(part.secondMoment().get(i - part.from())).isEqualTo(all.secondMoment().get(i));
        }
      }
      // 2 bytes a moment, nothing else: the fused update works in registers
      assertThat(split.stateBytes()).isEqualTo(2L * n * 2);
    }
  }
}
