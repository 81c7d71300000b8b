package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.tensor.Bf16;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A tiny Llama trained in bf16-mixed on both backends: the loss stays near fp32's, the CPU's
 * gradients match the reference's up to the order of fp32 sums, every forward pass computes with
 * the parameters as they are now (no stale bf16 copy), the bf16 copy costs two bytes a parameter,
 * and bf16-sr's copy of one bucket at a time computes what a whole copy does.
 */
class MixedPrecisionModelTest {
  /** Sizes that are no multiple of a vector: dim 36, 2 layers, 6 heads of 6, 2 kv heads. */
  static final LlamaConfig TINY = new LlamaConfig(36, 2, 6, 2, 70, 53, 1e-5f, 10000f, 16);

  static final int BATCH = 2;
  static final int SEQ = 9;
  static final int[] TOKENS = new SplittableRandom(1).ints(BATCH * SEQ, 0, 53).toArray();
  static final int[] TARGETS = new SplittableRandom(2).ints(BATCH * SEQ, 0, 53).toArray();
  static final long SEED = 5;
  static final double STD = 0.1; // large enough that the logits, and the rounding, matter
  static final float FACTOR = 2f;

  record Step(double loss, float[] gradients) {}

  static Backend open(String backend) {
    return Backends.open(backend, backend.equals("cpu") ? 2 : 1);
  }

  /** One forward and backward from freshly initialized parameters. */
  static Step step(String backend, Precision precision, boolean recompute) {
    try (Backend b = open(backend);
        LlamaModel m = new LlamaModel(TINY, b, BATCH, SEQ, recompute, precision)) {
      m.initialize(SEED, STD, true);
      return step(m);
    }
  }

  static Step step(LlamaModel m) {
    m.zeroGradients();
    double loss = m.forward(TOKENS, TARGETS, 1f);
    m.backward();
    return new Step(loss, m.gradients().toArray(0, Math.toIntExact(m.layout().size())));
  }

  static double relativeL2(float[] a, float[] b, long from, long to) {
    double diff = 0;
    double norm = 0;
    for (int i = (int) from; i < to; i++) {
      diff += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
      norm += (double) b[i] * b[i];
    }
    return Math.sqrt(diff / norm);
  }

  static double cosine(float[] a, float[] b) {
    double ab = 0;
    double aa = 0;
    double bb = 0;
    for (int i = 0; i < a.length; i++) {
      ab += (double) a[i] * b[i];
      aa += (double) a[i] * a[i];
      bb += (double) b[i] * b[i];
    }
    return ab / Math.sqrt(aa * bb);
  }

  @Test
  void bf16LossIsCloseToFp32ButNotTheSame() {
    for (String backend : new String[] {"reference", "cpu"}) {
      Step fp32 = step(backend, Precision.FP32, false);
      Step bf16 = step(backend, Precision.BF16_MIXED, false);
      assertThat(fp32.loss()).as("%s: a loss above chance's floor", backend).isGreaterThan(1);
      assertThat(Math.abs(bf16.loss() - fp32.loss()) / fp32.loss())
          .as("%s: relative difference of the losses %s and %s", backend, bf16.loss(), fp32.loss())
          .isLessThan(1e-2)
          .isGreaterThan(1e-7); // the rounding happens
      assertThat(relativeL2(bf16.gradients(), fp32.gradients(), 0, fp32.gradients().length))
          .as("%s: bf16 gradients near fp32's", backend)
          .isLessThan(5e-2)
          .isGreaterThan(1e-4);
    }
  }

  @Test
  void cpuGradientsMatchTheReferenceInBf16AsClosely() {
    Step cpu = step("cpu", Precision.BF16_MIXED, false);
    Step reference = step("reference", Precision.BF16_MIXED, false);
    Step cpu32 = step("cpu", Precision.FP32, false);
    assertThat(Math.abs(cpu.loss() - reference.loss()) / reference.loss())
        .as("loss %s vs %s", cpu.loss(), reference.loss())
        .isLessThan(1e-5);
    float[] g = cpu.gradients();
    float[] r = reference.gradients();
    // fp32 summation order moves them by about 1e-7; bf16 against fp32 differ by about 1e-2
    assertThat(cosine(g, r)).isGreaterThan(0.99999);
    double whole = relativeL2(g, r, 0, g.length);
    assertThat(whole).isLessThan(1e-4);
    // the tolerance tells precisions apart: fp32's gradients are much farther from bf16's
    assertThat(relativeL2(cpu32.gradients(), r, 0, r.length)).isGreaterThan(20 * whole);
    ParameterLayout layout = new ParameterLayout(TINY);
    for (ParameterLayout.Tensor t : layout.tensors()) {
      assertThat(relativeL2(g, r, t.offset(), t.end()))
          .as("gradient of %s", t.name())
          .isLessThan(1e-4);
    }
  }

  @Test
  void recomputingInTheBackwardPassGivesTheSameBf16Gradients() {
    for (String backend : new String[] {"reference", "cpu"}) {
      Step stored = step(backend, Precision.BF16_MIXED, false);
      Step recomputed = step(backend, Precision.BF16_MIXED, true);
      assertThat(recomputed.loss()).as(backend).isEqualTo(stored.loss());
      assertThat(recomputed.gradients()).as(backend).containsExactly(stored.gradients());
    }
  }

  @Test
  void everyForwardPassComputesWithTheParametersAsTheyAreNow() {
    for (String backend : new String[] {"reference", "cpu"}) {
      try (Backend b = open(backend);
          LlamaModel bf16 = new LlamaModel(TINY, b, BATCH, SEQ, false, Precision.BF16_MIXED);
          LlamaModel fp32 = new LlamaModel(TINY, b, BATCH, SEQ, false, Precision.FP32)) {
        bf16.initialize(SEED, STD, true);
        fp32.initialize(SEED, STD, true);
        float[] original = bf16.parameters().toArray(0, Math.toIntExact(bf16.layout().size()));
        Step base = step(bf16);
        double base32 = step(fp32).loss();
        // change one block of parameters at a time, as an optimizer step or a gather would
        for (ParameterLayout.Range bucket : bf16.layout().buckets()) {
          String what = backend + ", parameters [" + bucket.from() + ", " + bucket.to() + ")";
          for (LlamaModel m : new LlamaModel[] {bf16, fp32}) {
            for (long i = bucket.from(); i < bucket.to(); i++) {
              m.parameters().set(i, m.parameters().get(i) * FACTOR);
            }
          }
          Step changed = step(bf16);
          double changed32 = step(fp32).loss();
          Step fresh;
          try (LlamaModel twin = new LlamaModel(TINY, b, BATCH, SEQ, false, Precision.BF16_MIXED)) {
            twin.parameters().copyFrom(bf16.parameters(), 0, 0, bf16.layout().size());
            fresh = step(twin);
          }
          assertThat(changed.loss()).as("%s: loss as a new model's", what).isEqualTo(fresh.loss());
          assertThat(changed.gradients())
              .as("%s: gradients as a new model's", what)
              .containsExactly(fresh.gradients());
          double change32 = changed32 - base32;
          double change16 = changed.loss() - base.loss();
          assertThat(Math.abs(change32)).as("%s: the change matters", what).isGreaterThan(0.05);
          assertThat(Math.abs(change16 - change32))
              .as("%s: the loss moves as fp32's (%s to %s)", what, base.loss(), changed.loss())
              .isLessThan(0.1 * Math.abs(change32));
          // and back: the same loss and gradients as before, bit for bit
          bf16.parameters().copyFrom(original, 0);
          fp32.parameters().copyFrom(original, 0);
          Step restored = step(bf16);
          assertThat(restored.loss()).as("%s: restored", what).isEqualTo(base.loss());
          assertThat(restored.gradients())
              .as("%s: restored gradients", what)
              .containsExactly(base.gradients());
        }
      }
    }
  }

  @Test
  void theBf16CopyCostsTwoBytesAMultipliedParameter() {
    try (Backend b = open("reference");
        LlamaModel fp32 = new LlamaModel(TINY, b, BATCH, SEQ, false);
        LlamaModel bf16 = new LlamaModel(TINY, b, BATCH, SEQ, false, Precision.BF16_MIXED)) {
      assertThat(fp32.precision()).isEqualTo(Precision.FP32);
      assertThat(bf16.precision()).isEqualTo(Precision.BF16_MIXED);
      assertThat(bf16.layout().size()).isEqualTo(TINY.parameterCount());
      long embeddings = (long) TINY.vocabSize() * TINY.dim(); // looked up in fp32, never copied
      long logitsGradient = 2L * BATCH * SEQ * TINY.vocabSize(); // the loss writes it in bf16
      assertThat(bf16.bytes() - fp32.bytes() - logitsGradient)
          .isEqualTo(2 * (TINY.parameterCount() - embeddings))
          .isEqualTo(bf16.computeCopyBytes());
      assertThat(fp32.computeCopyBytes()).isZero();
      assertThat(fp32.bytes()).isEqualTo(LlamaModel.bytesNeeded(TINY, BATCH, SEQ, false));
      // the first pass allocates the copy: exactly what the model says it costs, once
      long before = dev.cria.engine.backend.HostBuffers.liveBytes();
      bf16.forward(TOKENS, TARGETS, 1f);
      long after = dev.cria.engine.backend.HostBuffers.liveBytes();
      bf16.forward(TOKENS, TARGETS, 1f);
      assertThat(after - before).isEqualTo(bf16.computeCopyBytes());
      assertThat(dev.cria.engine.backend.HostBuffers.liveBytes()).isEqualTo(after);
    }
  }

  @Test
  void bf16SrCopiesOneBucketAtATimeAndComputesTheSameBitsAsAWholeCopy() {
    for (String backend : new String[] {"reference", "cpu"}) {
      for (boolean recompute : new boolean[] {false, true}) {
        String what = backend + (recompute ? ", recomputing" : "");
        try (Backend b = open(backend);
            LlamaModel whole =
                new LlamaModel(TINY, b, BATCH, SEQ, recompute, Precision.BF16_MIXED);
            LlamaModel sr = new LlamaModel(TINY, b, BATCH, SEQ, recompute, Precision.BF16_SR)) {
          whole.initialize(SEED, STD, true);
          // bf16-sr's weights are bf16 values: round them so both products read the same
          for (long i = 0; i < whole.layout().size(); i++) {
            whole.parameters().set(i, Bf16.roundTrip(whole.parameters().get(i)));
          }
          sr.parameters().copyFrom(whole.parameters(), 0, 0, whole.layout().size());
          long embeddings = (long) TINY.vocabSize() * TINY.dim();
          assertThat(whole.computeCopyBytes())
              .as(what)
              .isEqualTo(2 * (TINY.parameterCount() - embeddings));
          assertThat(sr.computeCopyBytes())
              .as(what)
              .isEqualTo(2 * sr.layout().largestMultipliedBucket())
              .isLessThan(whole.computeCopyBytes() / 2);
          long before = dev.cria.engine.backend.HostBuffers.liveBytes();
          Step one = step(sr);
          assertThat(dev.cria.engine.backend.HostBuffers.liveBytes() - before)
              .as("%s: the first pass allocates the one-bucket copy", what)
              .isEqualTo(sr.computeCopyBytes());
          Step reference = step(whole);
          assertThat(one.loss()).as(what).isEqualTo(reference.loss());
          assertThat(one.gradients()).as(what).containsExactly(reference.gradients());
          // a second step takes every bucket again, the backward's rounding included
          assertThat(step(sr).gradients()).as(what).containsExactly(reference.gradients());
        }
      }
    }
  }

  @Test
  void precisionParsesLightningsSpellings() {
    for (String s : new String[] {"32", "32-true", "fp32", "32.0", " FP32 "}) {
      assertThat(Precision.parse(s)).as(s).isEqualTo(Precision.FP32);
    }
    for (String s : new String[] {"bf16", "bf16-mixed", "BF16-Mixed", " bf16\n"}) {
      assertThat(Precision.parse(s)).as(s).isEqualTo(Precision.BF16_MIXED);
    }
    assertThat(Precision.FP32.text()).isEqualTo("32");
    assertThat(Precision.BF16_MIXED.text()).isEqualTo("bf16-mixed");
    assertThat(Precision.BF16_MIXED).hasToString("bf16-mixed");
    for (Precision p : Precision.values()) {
      assertThat(Precision.parse(p.text())).isEqualTo(p);
    }
  }

  @Test
  void precisionRefusesWhatCriaDoesNotBuildAndSaysWhy() {
    for (String s : new String[] {"16", "16-mixed", "fp16", "16.0"}) {
      assertThatThrownBy(() -> Precision.parse(s))
          .as(s)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("precision " + s)
          .hasMessageContaining("loss scaler")
          .hasMessageContaining("bf16-mixed");
    }
    assertThatThrownBy(() -> Precision.parse("bf16-true"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bf16-true")
        .hasMessageContaining("master weights")
        .hasMessageContaining("use bf16-sr (the same, rounded stochastically), bf16-mixed or 32");
    for (String s : new String[] {"bf16-sr", "bf16sr", "bf16SR"}) {
      assertThat(Precision.parse(s)).as(s).isEqualTo(Precision.BF16_SR);
    }
    assertThat(Precision.BF16_SR.products()).isEqualTo(dev.cria.engine.tensor.DType.BF16);
    assertThat(Precision.BF16_SR.stochasticRounding()).isTrue();
    assertThat(Precision.BF16_MIXED.stochasticRounding()).isFalse();
    for (String s : new String[] {"fp8", "64", "", "bf32"}) {
      assertThatThrownBy(() -> Precision.parse(s))
          .as(s)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("unknown precision '" + s + "'")
          .hasMessageContaining("use 32, bf16-mixed (bf16 means bf16-mixed) or bf16-sr");
    }
    assertThatThrownBy(() -> Precision.parse(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("unknown precision");
  }
}
