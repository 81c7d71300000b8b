package dev.cria.engine.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cria.engine.backend.AdamWUpdate;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.backend.StochasticDraws;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Stochastic rounding to bf16 ({@code bf16-sr}): each result one of the two bf16 neighbours, the
 * expectation the value itself, the draws a function of seed and element index alone (so the CPU
 * kernels on any thread count, and any sharding of AdamW, give the reference's bits), AdamW keeping
 * parameters and moments bf16 values, and its fused kernel giving the bits of the kernels it fuses.
 */
class StochasticRoundingTest {
  private static boolean isBf16(float x) {
    return (Float.floatToRawIntBits(x) & 0xffff) == 0;
  }

  @Test
  void eachResultIsOneOfTheTwoBf16NeighboursAndExactValuesStay() {
    SplittableRandom r = new SplittableRandom(1);
    for (int i = 0; i < 100_000; i++) {
      float x = (float) ((r.nextDouble() - 0.5) * Math.pow(2, r.nextInt(-40, 40)));
      float down = Float.intBitsToFloat(Float.floatToRawIntBits(x) & 0xffff_0000); // toward 0
      float up = Float.intBitsToFloat(Float.floatToRawIntBits(down) + 0x1_0000); // next, outward
      float y = Bf16.roundStochastic(x, r.nextInt(1 << 16));
      assertThat(isBf16(y)).isTrue();
      assertThat(y == down || y == up).as("%s -> %s", x, y).isTrue();
      assertThat(Bf16.roundStochastic(down, r.nextInt(1 << 16))).isEqualTo(down);
    }
    assertThat(Bf16.roundStochastic(Float.POSITIVE_INFINITY, 0xffff)).isInfinite();
    assertThat(Bf16.roundStochastic(Float.NaN, 0xffff)).isNaN();
    assertThat(Bf16.roundStochastic(-0f, 0xffff)).isEqualTo(-0f);
  }

  @Test
  void theExpectationIsTheValue() {
    // 1 + 0.3 of a bf16 step (2^-7): rounding to nearest would always give 1
    float x = 1f + 0.3f * 0x1p-7f;
    for (float v : new float[] {x, -x, x * 0x1p-100f}) {
      double sum = 0;
      int n = 200_000;
      for (int i = 0; i < n; i++) {
        sum += Bf16.roundStochastic(v, Bf16.noise16(42, i));
      }
      double step = Math.abs(v) * 0x1p-7; // about one bf16 step at v
      // the standard error of the mean of n draws of a two-point variable is at most step/(2√n)
      assertThat(sum / n).isCloseTo(v, within(5 * step / (2 * Math.sqrt(n))));
    }
  }

  @Test
  void theKernelsGiveTheReferenceBitsWhateverTheThreadsAndTheShardsStart() {
    int n = 10_007;
    try (Arena arena = Arena.ofShared();
        Backend reference = Backends.open("reference", 1);
        Backend one = Backends.open("cpu", 1);
        Backend three = Backends.open("cpu", 3)) {
      Floats source = Floats.allocate(arena, n + 3);
      SplittableRandom r = new SplittableRandom(3);
      for (int i = 0; i < n + 3; i++) {
        source.set(i, (float) r.nextGaussian());
      }
      float[] special = {
        Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 3.4e38f, -0f, 1e-40f, -1e-45f
      };
      for (int i = 0; i < special.length; i++) {
        source.set(3 + 7 + i, special[i]); // inside the first vector, and past it
      }
      float[] expected = round(reference.kernels(), arena, source, n, 0);
      assertThat(round(one.kernels(), arena, source, n, 0)).isEqualTo(expected);
      assertThat(round(three.kernels(), arena, source, n, 0)).isEqualTo(expected);
      assertThat(expected[7]).isInfinite();
      assertThat(expected[9]).isNaN();
      // indices past 2^32 (a 7B model's parameters) draw as the scalar hash does
      long far = (1L << 40) + 17;
      assertThat(round(three.kernels(), arena, source, n, far))
          .isEqualTo(round(reference.kernels(), arena, source, n, far))
          .isNotEqualTo(expected);
      // a shard of the buffer draws what the whole buffer's elements draw
      Floats copy = Floats.allocate(arena, n + 3);
      copy.copyFrom(source, 0, 0, n + 3);
      three.kernels().roundBf16Stochastic(View.of(copy, 3 + 5000), n - 5000, 9, 5000);
      for (int i = 5000; i < n; i++) {
        assertThat(copy.get(3 + i)).isEqualTo(expected[i]);
      }
    }
  }

  @Test
  void theFusedUpdateGivesTheBitsOfTheKernelsOneAfterAnother() {
    int n = 10_007; // no multiple of a vector, several 64K chunks' tasks short of one
    AdamWUpdate u = new AdamWUpdate(3e-4f, 1 - 3e-5f, 0.9f, 0.95f, 0.271f, 0.0975f, 1e-8f);
    try (Arena arena = Arena.ofShared();
        Backend reference = Backends.open("reference", 1);
        Backend one = Backends.open("cpu", 1);
        Backend three = Backends.open("cpu", 3)) {
      SplittableRandom r = new SplittableRandom(8);
      float[] p = new float[n];
      float[] g = new float[n];
      float[] m = new float[n];
      float[] v = new float[n];
      for (int i = 0; i < n; i++) {
        p[i] = Bf16.roundTrip((float) (0.02 * r.nextGaussian()));
        g[i] = (float) (1e-3 * r.nextGaussian());
        m[i] = Bf16.roundTrip((float) (1e-3 * r.nextGaussian()));
        v[i] = Bf16.roundTrip((float) (1e-6 * r.nextDouble()));
      }
      // what an update may meet: infinities, NaN, the largest bf16, zeros, subnormals
      float[] special = {
        Float.POSITIVE_INFINITY, Float.NaN, 3.3895e38f, -0f, 1e-40f, Float.NEGATIVE_INFINITY
      };
      for (int i = 0; i < special.length; i++) {
        p[5 + i] = special[i];
        g[13 + i] = special[i];
        m[21 + i] = Bf16.roundTrip(special[i]);
        v[n - 1 - i] = Bf16.roundTrip(Math.abs(special[i]));
      }
      for (long first : new long[] {0, 1001, (1L << 40) + 3}) {
        StochasticDraws draws = new StochasticDraws(11, 12, 13, first);
        Object[] expected = unfused(reference, arena, p, g, m, v, u, draws);
        for (Backend b : new Backend[] {reference, one, three}) {
          Object[] fused = fused(b, arena, p, g, m, v, u, draws);
          for (int a = 0; a < 3; a++) {
            assertThat((float[]) fused[a])
                .as("%s, array %d, first index %d", b.name(), a, first)
                .isEqualTo((float[]) expected[a]);
          }
        }
        assertThat(unfused(three, arena, p, g, m, v, u, draws)[0]).isEqualTo(expected[0]);
        float[] updated = (float[]) expected[0];
        assertThat(updated[5]).isInfinite(); // infinities and NaN stay as they are
        assertThat(updated[6]).isNaN();
        for (int i = 0; i < n; i++) {
          if (Float.isFinite(updated[i])) {
            assertThat(isBf16(updated[i])).as("parameter %d", i).isTrue();
          }
        }
      }
    }
  }

  /** p, m and v after {@link Kernels#adamwStochastic} on {@code b}. */
  private static Object[] fused(
      Backend b,
      Arena arena,
      float[] p,
      float[] g,
      float[] m,
      float[] v,
      AdamWUpdate u,
      StochasticDraws draws) {
    int n = p.length;
    Floats pf = floats(arena, p);
    MemorySegment mb = bf16s(arena, m);
    MemorySegment vb = bf16s(arena, v);
    b.kernels()
        .adamwStochastic(
            View.of(pf, 0),
            View.of(floats(arena, g), 0),
            View.bf16(mb, 1),
            View.bf16(vb, 1),
            n,
            u,
            draws);
    assertThat(mb.getAtIndex(Bf16.LAYOUT, 0)).isEqualTo((short) 0x7fc1); // before the view
    return new Object[] {pf.toArray(0, n), widened(mb, n), widened(vb, n)};
  }

  /** The same from the kernels one after another, the moments in f32 slots between. */
  private static Object[] unfused(
      Backend b,
      Arena arena,
      float[] p,
      float[] g,
      float[] m,
      float[] v,
      AdamWUpdate u,
      StochasticDraws draws) {
    int n = p.length;
    Kernels k = b.kernels();
    Floats pf = floats(arena, p);
    Floats mf = Floats.allocate(arena, n);
    Floats vf = Floats.allocate(arena, n);
    MemorySegment mb = bf16s(arena, m);
    MemorySegment vb = bf16s(arena, v);
    k.widenBf16(View.of(mf, 0), View.bf16(mb, 1), n);
    k.widenBf16(View.of(vf, 0), View.bf16(vb, 1), n);
    k.adamw(View.of(pf, 0), View.of(floats(arena, g), 0), View.of(mf, 0), View.of(vf, 0), n, u);
    k.roundBf16Stochastic(View.of(pf, 0), n, draws.parameters(), draws.firstIndex());
    k.roundBf16Stochastic(View.of(mf, 0), n, draws.firstMoment(), draws.firstIndex());
    k.roundBf16Stochastic(View.of(vf, 0), n, draws.secondMoment(), draws.firstIndex());
    k.roundToBf16(View.bf16(mb, 1), View.of(mf, 0), n);
    k.roundToBf16(View.bf16(vb, 1), View.of(vf, 0), n);
    return new Object[] {pf.toArray(0, n), widened(mb, n), widened(vb, n)};
  }

  private static Floats floats(Arena arena, float[] x) {
    Floats f = Floats.allocate(arena, x.length);
    f.copyFrom(x, 0);
    return f;
  }

  /** {@code x} in bf16 from element 1 on, element 0 a marker that must stay. */
  private static MemorySegment bf16s(Arena arena, float[] x) {
    MemorySegment s = arena.allocate((x.length + 1L) * Bf16.BYTES, 64);
    s.setAtIndex(Bf16.LAYOUT, 0, (short) 0x7fc1);
    for (int i = 0; i < x.length; i++) {
      s.setAtIndex(Bf16.LAYOUT, i + 1, Bf16.round(x[i]));
    }
    return s;
  }

  private static float[] widened(MemorySegment s, int n) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = Bf16.widen(s.getAtIndex(Bf16.LAYOUT, i + 1));
    }
    return out;
  }

  /** Elements {@code [3, 3 + n)} of a copy of {@code source}, rounded with seed 9. */
  private static float[] round(Kernels k, Arena arena, Floats source, int n, long first) {
    Floats x = Floats.allocate(arena, n + 3);
    x.copyFrom(source, 0, 0, n + 3);
    k.roundBf16Stochastic(View.of(x, 3), n, 9, first);
    assertThat(x.get(0)).isEqualTo(source.get(0)); // nothing before the view touched
    return x.toArray(3, n);
  }

  @Test
  void adamWKeepsBf16ValuesAndShardsTakeTheWholesDraws() {
    LlamaConfig tiny = LlamaConfig.preset("tiny");
    ParameterLayout layout = new ParameterLayout(tiny);
    long size = layout.size();
    StochasticRounding sr = new StochasticRounding(1234);
    try (Arena arena = Arena.ofShared();
        Backend cpu = Backends.open("cpu", 2)) {
      Floats p1 = Floats.allocate(arena, size);
      Floats p2 = Floats.allocate(arena, size);
      Floats g = Floats.allocate(arena, size);
      SplittableRandom r = new SplittableRandom(5);
      for (long i = 0; i < size; i++) {
        float w = Bf16.roundTrip((float) (0.02 * r.nextGaussian()));
        p1.set(i, w);
        p2.set(i, w);
        g.set(i, (float) (1e-3 * r.nextGaussian()));
      }
      float[] initial = p1.toArray(0, (int) size);
      long half = layout.tensors().get(layout.tensors().size() / 2).offset();
      try (AdamW whole = new AdamW(layout, AdamW.Settings.llama(), cpu, 0, size, sr);
          AdamW a = new AdamW(layout, AdamW.Settings.llama(), cpu, 0, half, sr);
          AdamW b = new AdamW(layout, AdamW.Settings.llama(), cpu, half, size, sr)) {
        for (int step = 0; step < 3; step++) {
          whole.step(p1, g, 3e-4);
          a.step(p2, g, 3e-4);
          b.step(p2, g, 3e-4);
        }
        boolean moved = false;
        for (long i = 0; i < size; i++) {
          assertThat(isBf16(p1.get(i))).as("parameter %d", i).isTrue();
          assertThat(p2.get(i)).as("parameter %d", i).isEqualTo(p1.get(i));
          moved |= p1.get(i) != initial[(int) i];
        }
        for (long i = 0; i < size; i += 97) {
          assertThat(isBf16(whole.firstMoment().get(i))).isTrue();
          assertThat(isBf16(whole.secondMoment().get(i))).isTrue();
        }
        assertThat(moved).isTrue();
      }
    }
  }

  @Test
  void adamWStoresBf16MomentsInTwoBytesWithTheBitsOfF32Slots() {
    LlamaConfig tiny = LlamaConfig.preset("tiny");
    ParameterLayout layout = new ParameterLayout(tiny);
    long size = layout.size();
    // a shard that starts and ends inside tensors, the first (the embeddings) several chunks long
    long from = 1001;
    long to = size - 777;
    StochasticRounding sr = new StochasticRounding(99);
    AdamW.Settings settings = AdamW.Settings.llama();
    try (Arena arena = Arena.ofShared();
        Backend cpu = Backends.open("cpu", 2)) {
      Kernels k = cpu.kernels();
      Floats p1 = Floats.allocate(arena, size);
      Floats p3 = Floats.allocate(arena, size);
      Floats g = Floats.allocate(arena, size);
      Floats m = Floats.allocate(arena, to - from);
      Floats v = Floats.allocate(arena, to - from);
      SplittableRandom r = new SplittableRandom(6);
      for (long i = 0; i < size; i++) {
        float w = Bf16.roundTrip((float) (0.02 * r.nextGaussian()));
        p1.set(i, w);
        p3.set(i, w);
      }
      try (AdamW own = new AdamW(layout, settings, cpu, from, to, sr)) {
        assertThat(own.firstMoment().dtype()).isEqualTo(dev.cria.engine.tensor.DType.BF16);
        assertThat(own.stateBytes()).isEqualTo(2 * (to - from) * Bf16.BYTES);
        for (int step = 1; step <= 3; step++) {
          for (long i = 0; i < size; i++) {
            g.set(i, (float) (1e-3 * r.nextGaussian()));
          }
          own.step(p1, g, 3e-4);
          f32SlotsStep(k, layout, settings, sr, p3, g, m, v, from, to, step, 3e-4);
        }
        for (long i = 0; i < size; i++) {
          assertThat(p1.get(i)).as("parameter %d", i).isEqualTo(p3.get(i));
        }
        for (long i = 0; i < to - from; i++) {
          assertThat(own.firstMoment().get(i)).as("first moment %d", i).isEqualTo(m.get(i));
          assertThat(own.secondMoment().get(i)).as("second moment %d", i).isEqualTo(v.get(i));
        }
      }
    }
  }

  /** One AdamW update with the moments in f32 slots rounded in place, as bf16-sr once kept them. */
  private static void f32SlotsStep(
      Kernels k,
      ParameterLayout layout,
      AdamW.Settings s,
      StochasticRounding sr,
      Floats p,
      Floats g,
      Floats m,
      Floats v,
      long from,
      long to,
      long step,
      double lr) {
    float c1 = (float) (1 - Math.pow(s.beta1(), step));
    float c2 = (float) (1 - Math.pow(s.beta2(), step));
    for (ParameterLayout.Tensor t : layout.tensors()) {
      long first = Math.max(t.offset(), from);
      long last = Math.min(t.end(), to);
      if (first >= last) {
        continue;
      }
      long n = last - first;
      float decay = (float) (1 - lr * (t.weightDecay() ? s.weightDecay() : 0));
      k.adamw(
          View.of(p, first),
          View.of(g, first),
          View.of(m, first - from),
          View.of(v, first - from),
          n,
          new dev.cria.engine.backend.AdamWUpdate(
              (float) lr, decay, (float) s.beta1(), (float) s.beta2(), c1, c2, (float) s.eps()));
      sr.round(k, View.of(p, first), n, first, step, StochasticRounding.Stream.PARAMETERS);
      sr.round(k, View.of(m, first - from), n, first, step, StochasticRounding.Stream.FIRST_MOMENT);
      sr.round(
          k, View.of(v, first - from), n, first, step, StochasticRounding.Stream.SECOND_MOMENT);
    }
  }
}
