package dev.cria.engine.infer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LlamaDecoderTest {
  static final LlamaConfig GROUPED = new LlamaConfig(64, 2, 4, 2, 172, 100, 1e-5f, 10000f, 32);
  static final LlamaConfig ONE_KV_HEAD_PER_HEAD =
      new LlamaConfig(64, 2, 4, 4, 172, 100, 1e-5f, 10000f, 32);

  /** Widths that are not multiples of any vector length, so every scalar tail runs. */
  static final LlamaConfig ODD_WIDTHS = new LlamaConfig(36, 3, 3, 1, 100, 97, 1e-5f, 10000f, 32);

  static final int SEQ = 12;

  @Test
  void matchesTheTrainingForwardWithGroupedQueryAttention() {
    try (Backend cpu = Backends.open("cpu", 2)) {
      assertMatchesTrainingForward(GROUPED, cpu);
    }
  }

  @Test
  void matchesTheTrainingForwardWhenEveryHeadHasItsOwnKeysAndValues() {
    try (Backend reference = Backends.open("reference", 1)) {
      assertMatchesTrainingForward(ONE_KV_HEAD_PER_HEAD, reference);
    }
  }

  @Test
  void matchesTheTrainingForwardWhenWidthsAreNotMultiplesOfTheVectorLength() {
    try (Backend cpu = Backends.open("cpu", 2)) {
      assertMatchesTrainingForward(ODD_WIDTHS, cpu);
    }
  }

  /**
   * Feeds SEQ tokens one by one and compares every position's logits with the full-sequence
   * forward.
   */
  private static void assertMatchesTrainingForward(LlamaConfig config, Backend backend) {
    int[] tokens = new SplittableRandom(11).ints(SEQ, 0, config.vocabSize()).toArray();
    int vocab = config.vocabSize();
    try (Arena arena = Arena.ofShared();
        LlamaModel model = new LlamaModel(config, backend, 1, SEQ, false)) {
      randomize(model, 5);
      model.forward(tokens, null, 0f);
      float[] expected = model.logits();
      Floats parameters = Floats.allocate(arena, model.layout().size());
      parameters.copyFrom(model.parameters(), 0, 0, model.layout().size());
      try (LlamaDecoder decoder =
          LlamaDecoder.create(config, parameters, backend, config.maxSeqLen())) {
        double largestLogit = 0;
        for (int t = 0; t < SEQ; t++) {
          assertThat(decoder.position()).isEqualTo(t);
          float[] logits = decoder.next(tokens[t]);
          assertThat(logits).hasSize(vocab);
          double worst = 0;
          for (int i = 0; i < vocab; i++) {
            worst = Math.max(worst, Math.abs(logits[i] - expected[t * vocab + i]));
            largestLogit = Math.max(largestLogit, Math.abs(expected[t * vocab + i]));
          }
          assertThat(worst).as("max |logit difference| at position %d", t).isLessThan(1e-4);
        }
        assertThat(decoder.position()).isEqualTo(SEQ);
        // Logits of order one: the 1e-4 tolerance is then a tight test, not a vacuous one.
        assertThat(largestLogit).isGreaterThan(1.0);
      }
    }
  }

  /**
   * Parameters with larger matrices than the training init (std 1/sqrt(in), norm weights near 1) so
   * that attention is far from uniform and every part of the block moves the logits visibly.
   */
  private static void randomize(LlamaModel model, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    Floats p = model.parameters();
    for (ParameterLayout.Tensor t : model.layout().tensors()) {
      boolean norm = !t.weightDecay();
      double std = norm ? 0.2 : 1 / Math.sqrt(t.cols());
      for (long i = t.offset(); i < t.end(); i++) {
        p.set(i, (float) ((norm ? 1 : 0) + std * random.nextGaussian()));
      }
    }
  }

  @Test
  void resetThenTheSameTokensGivesBitIdenticalLogitsWhateverTheThreadCount() {
    int[] tokens = new SplittableRandom(3).ints(SEQ, 0, GROUPED.vocabSize()).toArray();
    try (Backend two = Backends.open("cpu", 2);
        Backend one = Backends.open("cpu", 1);
        LlamaModel model = new LlamaModel(GROUPED, one, 1, 1, false);
        LlamaDecoder decoder = LlamaDecoder.create(GROUPED, model.parameters(), two, 16);
        LlamaDecoder serial = LlamaDecoder.create(GROUPED, model.parameters(), one, 16)) {
      randomize(model, 9);
      float[][] first = new float[SEQ][];
      for (int t = 0; t < SEQ; t++) {
        first[t] = decoder.next(tokens[t]);
      }
      decoder.reset();
      assertThat(decoder.position()).isZero();
      for (int t = 0; t < SEQ; t++) {
        assertThat(decoder.next(tokens[t]))
            .as("position %d after reset", t)
            .containsExactly(first[t]);
        assertThat(serial.next(tokens[t]))
            .as("position %d on one thread", t)
            .containsExactly(first[t]);
      }
    }
  }

  @Test
  void aTokenOutsideTheVocabularyIsRefusedAndLeavesThePositionAlone() {
    try (Backend backend = Backends.open("cpu", 1);
        LlamaModel model = new LlamaModel(GROUPED, backend, 1, 1, false);
        LlamaDecoder decoder = LlamaDecoder.create(GROUPED, model.parameters(), backend, 8)) {
      model.initialize(1);
      decoder.next(3);
      assertThatThrownBy(() -> decoder.next(GROUPED.vocabSize()))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("token id 100 is outside the vocabulary of 100");
      assertThatThrownBy(() -> decoder.next(-1))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("token id -1");
      assertThat(decoder.position()).isEqualTo(1);
    }
  }

  @Test
  void aFullContextIsRefusedUntilReset() {
    try (Backend backend = Backends.open("cpu", 1);
        LlamaModel model = new LlamaModel(GROUPED, backend, 1, 1, false);
        LlamaDecoder decoder = LlamaDecoder.create(GROUPED, model.parameters(), backend, 4)) {
      model.initialize(1);
      float[] firstLogits = decoder.next(7);
      for (int t = 1; t < 4; t++) {
        decoder.next(7);
      }
      assertThat(decoder.position()).isEqualTo(4);
      assertThatThrownBy(() -> decoder.next(7))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("context is full")
          .hasMessageContaining("4 positions");
      decoder.reset();
      assertThat(decoder.next(7)).containsExactly(firstLogits);
    }
  }

  @Test
  void badConstructionArgumentsAndUseAfterCloseAreRefused() {
    try (Backend backend = Backends.open("reference", 1);
        LlamaModel model = new LlamaModel(GROUPED, backend, 1, 1, false)) {
      Floats parameters = model.parameters();
      assertThatThrownBy(() -> LlamaDecoder.create(GROUPED, parameters, backend, 0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("max context 0");
      assertThatThrownBy(() -> LlamaDecoder.create(GROUPED, parameters, backend, 33))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("max sequence length 32");
      assertThatThrownBy(() -> LlamaDecoder.create(ODD_WIDTHS, parameters, backend, 8))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("parameters");
      LlamaDecoder decoder = LlamaDecoder.create(GROUPED, parameters, backend, 8);
      decoder.close();
      decoder.close(); // idempotent
      assertThatThrownBy(() -> decoder.next(1)).isInstanceOf(IllegalStateException.class);
    }
  }
}
