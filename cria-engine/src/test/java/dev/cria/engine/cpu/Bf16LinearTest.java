package dev.cria.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Kernels;
import dev.cria.engine.reference.ReferenceKernels;
import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.View;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CPU's mixed-precision linear layers (the Java bf16 product: widening and cria's GEMM) against
 * the reference's plain loops and against the exact sums of the bf16 products, computed here in
 * double. A bf16 product of two bf16 values is exact in fp32, so two correct implementations differ
 * only by the order of their fp32 additions: each is within {@code gamma_k = k u / (1 - k u)} of
 * the exact sum of the magnitudes ({@code u = 2^-24}), whatever order it adds in. That bound is far
 * below the effect of skipping a rounding (about {@code 2^-9} per term), so the comparison is tight
 * enough to catch an operand left in fp32, a wrong offset or a wrong operand.
 */
class Bf16LinearTest {
  private static final double U = 0x1p-24;
  private static final float PAD = 1e30f; // around every operand: read by mistake, it shows
  private static final int[][] SHAPES = { // n, in, out
    {37, 45, 29}, {1, 1, 1}, {5, 3, 70}, {301, 259, 67}, {13, 130, 9}, {37, 45, 29},
  };

  static Parallel three;
  static Arena arena;
  static final Kernels REFERENCE = new ReferenceKernels();
  final Random random = new Random(17);

  @BeforeAll
  static void start() {
    three = Parallel.create(3);
    arena = Arena.ofShared();
  }

  @AfterAll
  static void stop() {
    arena.close();
    three.close();
  }

  float[] gaussian(int n, double scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (random.nextGaussian() * scale);
    }
    return v;
  }

  /** {@code v} at element offset {@code off}, PAD before and after. */
  static MemorySegment floats(float[] v, int off) {
    MemorySegment s = arena.allocate((off + v.length + 9L) * Float.BYTES, 64);
    for (long i = 0; i < off + v.length + 9L; i++) {
      s.setAtIndex(ValueLayout.JAVA_FLOAT, i, PAD);
    }
    MemorySegment.copy(v, 0, s, ValueLayout.JAVA_FLOAT, off * (long) Float.BYTES, v.length);
    return s;
  }

  /** {@code v} rounded to bf16 at element offset {@code off}, bf16 PAD before and after. */
  static MemorySegment bf16(float[] v, int off) {
    MemorySegment s = arena.allocate((off + v.length + 9L) * Bf16.BYTES, 64);
    for (long i = 0; i < off + v.length + 9L; i++) {
      s.setAtIndex(
          Bf16.LAYOUT,
          i,
          i >= off && i < off + v.length ? Bf16.round(v[(int) (i - off)]) : Bf16.round(PAD));
    }
    return s;
  }

  static float[] read(MemorySegment s, int off, int length) {
    float[] v = new float[length];
    MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, off * (long) Float.BYTES, v, 0, length);
    return v;
  }

  static MemorySegment copy(MemorySegment s) {
    MemorySegment c = arena.allocate(s.byteSize(), 64);
    c.copyFrom(s);
    return c;
  }

  static float rt(float v) {
    return Bf16.roundTrip(v);
  }

  /** Exact sums in double and the fp32 bound each implementation's sum must keep to. */
  record Exact(double[] value, double[] bound) {}

  static Exact forwardExact(float[] x, float[] w, int n, int in, int out) {
    double[] value = new double[n * out];
    double[] bound = new double[n * out];
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < out; o++) {
        double sum = 0;
        double abs = 0;
        for (int c = 0; c < in; c++) {
          double p = (double) rt(x[i * in + c]) * rt(w[o * in + c]);
          sum += p;
          abs += Math.abs(p);
        }
        value[i * out + o] = sum;
        bound[i * out + o] = gamma(in) * abs;
      }
    }
    return new Exact(value, bound);
  }

  static Exact inputGradientExact(float[] dy, float[] w, float[] dx0, int n, int in, int out) {
    double[] value = new double[n * in];
    double[] bound = new double[n * in];
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < in; c++) {
        double sum = dx0 == null ? 0 : dx0[i * in + c];
        double abs = Math.abs(sum);
        for (int o = 0; o < out; o++) {
          double p = (double) rt(dy[i * out + o]) * rt(w[o * in + c]);
          sum += p;
          abs += Math.abs(p);
        }
        value[i * in + c] = sum;
        bound[i * in + c] = gamma(out + 1) * abs;
      }
    }
    return new Exact(value, bound);
  }

  static Exact weightGradientExact(float[] dy, float[] x, float[] dw0, int n, int in, int out) {
    double[] value = new double[out * in];
    double[] bound = new double[out * in];
    for (int o = 0; o < out; o++) {
      for (int c = 0; c < in; c++) {
        double sum = dw0[o * in + c];
        double abs = Math.abs(sum);
        for (int i = 0; i < n; i++) {
          double p = (double) rt(dy[i * out + o]) * rt(x[i * in + c]);
          sum += p;
          abs += Math.abs(p);
        }
        value[o * in + c] = sum;
        bound[o * in + c] = gamma(n + 1) * abs;
      }
    }
    return new Exact(value, bound);
  }

  /** Any order of summing k terms in fp32 stays within this fraction of their magnitudes. */
  static double gamma(int k) {
    return k * U / (1 - k * U) * 1.001;
  }

  static void assertWithin(float[] actual, Exact exact, double factor, String what) {
    for (int i = 0; i < actual.length; i++) {
      assertThat(Math.abs(actual[i] - exact.value()[i]))
          .as("%s[%d]: %s vs exact %s", what, i, actual[i], exact.value()[i])
          .isLessThanOrEqualTo(factor * exact.bound()[i] + 1e-35);
    }
  }

  static void assertPadKept(MemorySegment s, int off, int length, String what) {
    for (int i = 0; i < off; i++) {
      assertThat(s.getAtIndex(ValueLayout.JAVA_FLOAT, i))
          .as("%s before [%d]", what, i)
          .isEqualTo(PAD);
    }
    for (int i = off + length; i < off + length + 9; i++) {
      assertThat(s.getAtIndex(ValueLayout.JAVA_FLOAT, i))
          .as("%s after [%d]", what, i)
          .isEqualTo(PAD);
    }
  }

  static double relativeL2(float[] a, float[] b) {
    double diff = 0;
    double norm = 0;
    for (int i = 0; i < a.length; i++) {
      diff += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
      norm += (double) b[i] * b[i];
    }
    return Math.sqrt(diff / norm);
  }

  /** The signature of {@link Kernels#linearForward}. */
  interface Forward {
    void run(View y, View x, View w, int n, int in, int out);
  }

  /** The signature of {@link Kernels#linearBackward}. */
  interface Backward {
    void run(
        View dx, boolean overwriteDx, View dw, View dy, View x, View w, int n, int in, int out);
  }

  /** Forward and backward of every shape against the reference and the exact sums. */
  void matchesReferenceAndExactSums(Forward forward, Backward backward) {
    for (int[] shape : SHAPES) {
      int n = shape[0];
      int in = shape[1];
      int out = shape[2];
      String at = n + "x" + in + "x" + out;
      float[] x = gaussian(n * in, 1);
      float[] w = gaussian(out * in, 0.1);
      MemorySegment xs = floats(x, 3);
      MemorySegment ws = bf16(w, 5);

      MemorySegment y1 = floats(gaussian(n * out, 1), 7);
      MemorySegment y2 = copy(y1);
      forward.run(View.f32(y1, 7), View.f32(xs, 3), View.bf16(ws, 5), n, in, out);
      REFERENCE.linearForward(View.f32(y2, 7), View.f32(xs, 3), View.bf16(ws, 5), n, in, out);
      Exact y = forwardExact(x, w, n, in, out);
      assertWithin(read(y1, 7, n * out), y, 1, "cpu y " + at);
      assertWithin(read(y2, 7, n * out), y, 1, "reference y " + at);
      assertWithin(
          read(y1, 7, n * out),
          new Exact(toDouble(read(y2, 7, n * out)), y.bound()),
          2,
          "cpu vs reference y " + at);
      assertPadKept(y1, 7, n * out, "y " + at);

      float[] dy = gaussian(n * out, 1);
      MemorySegment dys = floats(dy, 2);
      for (boolean overwrite : new boolean[] {true, false}) {
        float[] dx0 = gaussian(n * in, 1);
        float[] dw0 = gaussian(out * in, 1);
        MemorySegment dx1 = floats(dx0, 4);
        MemorySegment dx2 = copy(dx1);
        MemorySegment dw1 = floats(dw0, 6);
        MemorySegment dw2 = copy(dw1);
        backward.run(
            View.f32(dx1, 4),
            overwrite,
            View.f32(dw1, 6),
            View.f32(dys, 2),
            View.f32(xs, 3),
            View.bf16(ws, 5),
            n,
            in,
            out);
        REFERENCE.linearBackward(
            View.f32(dx2, 4),
            overwrite,
            View.f32(dw2, 6),
            View.f32(dys, 2),
            View.f32(xs, 3),
            View.bf16(ws, 5),
            n,
            in,
            out);
        String how = at + (overwrite ? " overwriting dx" : " accumulating dx");
        Exact dx = inputGradientExact(dy, w, overwrite ? null : dx0, n, in, out);
        Exact dw = weightGradientExact(dy, x, dw0, n, in, out);
        assertWithin(read(dx1, 4, n * in), dx, 1, "cpu dx " + how);
        assertWithin(read(dx2, 4, n * in), dx, 1, "reference dx " + how);
        assertWithin(read(dw1, 6, out * in), dw, 1, "cpu dw " + how);
        assertWithin(read(dw2, 6, out * in), dw, 1, "reference dw " + how);
        assertWithin(
            read(dx1, 4, n * in),
            new Exact(toDouble(read(dx2, 4, n * in)), dx.bound()),
            2,
            "cpu vs reference dx " + how);
        assertWithin(
            read(dw1, 6, out * in),
            new Exact(toDouble(read(dw2, 6, out * in)), dw.bound()),
            2,
            "cpu vs reference dw " + how);
        assertPadKept(dx1, 4, n * in, "dx " + how);
        assertPadKept(dw1, 6, out * in, "dw " + how);
      }
    }
  }

  static double[] toDouble(float[] v) {
    double[] d = new double[v.length];
    for (int i = 0; i < v.length; i++) {
      d[i] = v[i];
    }
    return d;
  }

  @Test
  void javaProductMatchesTheReferenceUpToTheOrderOfFp32Sums() {
    try (CpuBf16Linear linear = new CpuBf16Linear(three, new JavaBf16Matmul(three, "test"))) {
      assertThat(linear.matmul().description()).startsWith("java").contains("test");
      matchesReferenceAndExactSums(linear::forward, linear::backward);
    }
  }

  @Test
  void cpuKernelsMatchTheReferenceWithWhicheverProductOpens() {
    CpuKernels kernels = new CpuKernels(three);
    try {
      assertThat(kernels.bf16Matmul()).isNotBlank();
      matchesReferenceAndExactSums(kernels::linearForward, kernels::linearBackward);
    } finally {
      kernels.close();
    }
  }

  @Test
  void bf16ResultsDifferFromFp32ByTheRoundingOfBothOperandsAndNothingElse() {
    CpuKernels kernels = new CpuKernels(three);
    try {
      int n = 53;
      int in = 77;
      int out = 41;
      float[] x = gaussian(n * in, 1);
      float[] w = gaussian(out * in, 0.1);
      float[] wRounded = w.clone();
      float[] xRounded = x.clone();
      for (int i = 0; i < w.length; i++) {
        wRounded[i] = rt(w[i]);
      }
      for (int i = 0; i < x.length; i++) {
        xRounded[i] = rt(x[i]);
      }
      MemorySegment y16 = floats(new float[n * out], 0);
      kernels.linearForward(
          View.f32(y16, 0), View.f32(floats(x, 0), 0), View.bf16(bf16(w, 0), 0), n, in, out);
      float[] bf = read(y16, 0, n * out);

      MemorySegment y32 = floats(new float[n * out], 0);
      kernels.linearForward(
          View.f32(y32, 0), View.f32(floats(x, 0), 0), View.f32(floats(w, 0), 0), n, in, out);
      double full = relativeL2(bf, read(y32, 0, n * out));
      assertThat(full).as("bf16 vs fp32, relative L2").isLessThan(1e-2).isGreaterThan(1e-4);

      kernels.linearForward(
          View.f32(y32, 0),
          View.f32(floats(x, 0), 0),
          View.f32(floats(wRounded, 0), 0),
          n,
          in,
          out);
      assertThat(relativeL2(bf, read(y32, 0, n * out)))
          .as("the input is rounded too, not only the weights")
          .isGreaterThan(1e-4);

      kernels.linearForward(
          View.f32(y32, 0),
          View.f32(floats(xRounded, 0), 0),
          View.f32(floats(wRounded, 0), 0),
          n,
          in,
          out);
      assertWithin(
          bf,
          new Exact(toDouble(read(y32, 0, n * out)), forwardExact(x, w, n, in, out).bound()),
          2,
          "bf16 vs fp32 of the rounded operands (the output is not rounded)");

      float[] dy = gaussian(n * out, 1);
      MemorySegment dx16 = floats(new float[n * in], 0);
      MemorySegment dw16 = floats(new float[out * in], 0);
      kernels.linearBackward(
          View.f32(dx16, 0),
          true,
          View.f32(dw16, 0),
          View.f32(floats(dy, 0), 0),
          View.f32(floats(x, 0), 0),
          View.bf16(bf16(w, 0), 0),
          n,
          in,
          out);
      MemorySegment dx32 = floats(new float[n * in], 0);
      MemorySegment dw32 = floats(new float[out * in], 0);
      kernels.linearBackward(
          View.f32(dx32, 0),
          true,
          View.f32(dw32, 0),
          View.f32(floats(dy, 0), 0),
          View.f32(floats(x, 0), 0),
          View.f32(floats(w, 0), 0),
          n,
          in,
          out);
      assertThat(relativeL2(read(dx16, 0, n * in), read(dx32, 0, n * in)))
          .as("dx bf16 vs fp32")
          .isLessThan(1e-2)
          .isGreaterThan(1e-4);
      assertThat(relativeL2(read(dw16, 0, out * in), read(dw32, 0, out * in)))
          .as("dw bf16 vs fp32")
          .isLessThan(1e-2)
          .isGreaterThan(1e-4);
    } finally {
      kernels.close();
    }
  }

  @Test
  void roundToBf16MatchesTheScalarRoundingOnBothKernelSets() {
    CpuKernels kernels = new CpuKernels(three);
    try {
      float[] v = gaussian(70_001, 3);
      v[5] = Float.NaN;
      v[6] = Float.MAX_VALUE;
      v[7] = 1f + 0x1p-8f;
      MemorySegment src = floats(v, 3);
      MemorySegment a = arena.allocate((v.length + 20L) * Bf16.BYTES, 64);
      MemorySegment b = arena.allocate((v.length + 20L) * Bf16.BYTES, 64);
      kernels.roundToBf16(View.bf16(a, 11), View.f32(src, 3), v.length);
      REFERENCE.roundToBf16(View.bf16(b, 11), View.f32(src, 3), v.length);
      assertThat(a.mismatch(b)).isEqualTo(-1);
      for (int i = 0; i < v.length; i++) {
        assertThat(a.getAtIndex(Bf16.LAYOUT, 11 + i)).as("%d", i).isEqualTo(Bf16.round(v[i]));
      }
    } finally {
      kernels.close();
    }
  }

  @Test
  void widenBf16IsExactOnBothKernelSetsAndUndoesTheRounding() {
    CpuKernels kernels = new CpuKernels(three);
    try {
      float[] v = gaussian(70_001, 5);
      v[5] = Float.NaN;
      v[6] = Float.NEGATIVE_INFINITY;
      v[7] = -0f;
      MemorySegment bf = arena.allocate((v.length + 20L) * Bf16.BYTES, 64);
      REFERENCE.roundToBf16(View.bf16(bf, 9), View.f32(floats(v, 0), 0), v.length);
      MemorySegment a = arena.allocate((v.length + 20L) * Float.BYTES, 64);
      MemorySegment b = arena.allocate((v.length + 20L) * Float.BYTES, 64);
      kernels.widenBf16(View.f32(a, 4), View.bf16(bf, 9), v.length);
      REFERENCE.widenBf16(View.f32(b, 4), View.bf16(bf, 9), v.length);
      assertThat(a.mismatch(b)).isEqualTo(-1);
      for (int i = 0; i < v.length; i++) {
        float wide = a.getAtIndex(ValueLayout.JAVA_FLOAT, 4 + i);
        assertThat(Float.floatToRawIntBits(wide))
            .as("%d", i)
            .isEqualTo(Float.floatToRawIntBits(Bf16.widen(Bf16.round(v[i]))));
        assertThat(Bf16.round(wide))
            .as("rounding a widened value gives it back")
            .isEqualTo(Bf16.round(v[i]));
      }
    } finally {
      kernels.close();
    }
  }
}
