package dev.cria.engine.backend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Each backward kernel against central finite differences of the same operation written in double
 * precision here, independently of the kernels. The scalar under test is {@code sum(r * out)} for a
 * fixed random {@code r}, so the upstream gradient is {@code r}. Both kernel sets are checked.
 */
class GradientCheckTest {
  static Backend cpu;
  static Kernels[] all;
  final Random random = new Random(3);

  @BeforeAll
  static void start() {
    cpu = Backends.open("cpu", 2);
    all = new Kernels[] {Backends.open("reference", 1).kernels(), cpu.kernels()};
  }

  @AfterAll
  static void stop() {
    cpu.close();
  }

  double[] randomDoubles(int n, double scale) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = random.nextGaussian() * scale;
    }
    return v;
  }

  static MemorySegment floats(double[] v) {
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      f[i] = (float) v[i];
    }
    return MemorySegment.ofArray(f);
  }

  static MemorySegment zeros(int n) {
    return MemorySegment.ofArray(new float[n]);
  }

  static float[] array(MemorySegment s) {
    return s.toArray(ValueLayout.JAVA_FLOAT);
  }

  /** Numerical gradient of {@code sum(r * f(x))} w.r.t. {@code x[i]}, in double. */
  static double[] numeric(double[] x, double[] r, Function<double[], double[]> f) {
    double[] grad = new double[x.length];
    double h = 1e-6;
    for (int i = 0; i < x.length; i++) {
      double keep = x[i];
      x[i] = keep + h;
      double plus = dot(r, f.apply(x));
      x[i] = keep - h;
      double minus = dot(r, f.apply(x));
      x[i] = keep;
      grad[i] = (plus - minus) / (2 * h);
    }
    return grad;
  }

  static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += a[i] * b[i];
    }
    return s;
  }

  static void assertGradient(float[] analytic, double[] numeric, String what) {
    double scale = 1e-3;
    for (double v : numeric) {
      scale = Math.max(scale, Math.abs(v));
    }
    for (int i = 0; i < numeric.length; i++) {
      assertThat(Math.abs(analytic[i] - numeric[i]) / scale)
          .as("%s[%d]: analytic %s, numeric %s", what, i, analytic[i], numeric[i])
          .isLessThan(2e-4);
    }
  }

  @Test
  void linear() {
    int n = 5;
    int in = 7;
    int out = 6;
    double[] x = randomDoubles(n * in, 1);
    double[] w = randomDoubles(out * in, 1);
    double[] r = randomDoubles(n * out, 1);
    Function<double[], double[]> byX = xx -> linear(xx, w, n, in, out);
    Function<double[], double[]> byW = ww -> linear(x, ww, n, in, out);
    double[] gx = numeric(x, r, byX);
    double[] gw = numeric(w, r, byW);
    for (Kernels k : all) {
      MemorySegment dx = zeros(n * in);
      MemorySegment dw = zeros(out * in);
      k.linearBackward(
          View.f32(dx, 0),
          true,
          View.f32(dw, 0),
          View.f32(floats(r), 0),
          View.f32(floats(x), 0),
          View.f32(floats(w), 0),
          n,
          in,
          out);
      assertGradient(array(dx), gx, k.name() + " dx");
      assertGradient(array(dw), gw, k.name() + " dw");
    }
  }

  static double[] linear(double[] x, double[] w, int n, int in, int out) {
    double[] y = new double[n * out];
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < out; o++) {
        for (int c = 0; c < in; c++) {
          y[i * out + o] += x[i * in + c] * w[o * in + c];
        }
      }
    }
    return y;
  }

  @Test
  void embedding() {
    int n = 6;
    int d = 5;
    int vocab = 4;
    int[] tokens = {1, 3, 1, 0, 3, 3};
    double[] table = randomDoubles(vocab * d, 1);
    double[] r = randomDoubles(n * d, 1);
    double[] g =
        numeric(
            table,
            r,
            tt -> {
              double[] out = new double[n * d];
              for (int i = 0; i < n; i++) {
                System.arraycopy(tt, tokens[i] * d, out, i * d, d);
              }
              return out;
            });
    for (Kernels k : all) {
      MemorySegment dTable = zeros(vocab * d);
      k.embeddingBackward(View.f32(dTable, 0), View.f32(floats(r), 0), ids(tokens), n, d);
      assertGradient(array(dTable), g, k.name() + " dTable");
    }
  }

  @Test
  void rmsNorm() {
    int n = 4;
    int d = 19;
    double eps = 1e-5;
    double[] x = randomDoubles(n * d, 1);
    double[] w = randomDoubles(d, 1);
    double[] r = randomDoubles(n * d, 1);
    double[] gx = numeric(x, r, xx -> rmsNorm(xx, w, n, d, eps));
    double[] gw = numeric(w, r, ww -> rmsNorm(x, ww, n, d, eps));
    for (Kernels k : all) {
      MemorySegment out = zeros(n * d);
      MemorySegment rstd = zeros(n);
      k.rmsNormForward(
          View.f32(out, 0),
          View.f32(rstd, 0),
          View.f32(floats(x), 0),
          View.f32(floats(w), 0),
          n,
          d,
          (float) eps);
      MemorySegment dx = zeros(n * d);
      MemorySegment dw = zeros(d);
      k.rmsNormBackward(
          View.f32(dx, 0),
          View.f32(dw, 0),
          View.f32(floats(r), 0),
          View.f32(floats(x), 0),
          View.f32(floats(w), 0),
          View.f32(rstd, 0),
          n,
          d);
      assertGradient(array(dx), gx, k.name() + " dx");
      assertGradient(array(dw), gw, k.name() + " dw");
    }
  }

  static double[] rmsNorm(double[] x, double[] w, int n, int d, double eps) {
    double[] y = new double[n * d];
    for (int i = 0; i < n; i++) {
      double ss = 0;
      for (int c = 0; c < d; c++) {
        ss += x[i * d + c] * x[i * d + c];
      }
      double rs = 1 / Math.sqrt(ss / d + eps);
      for (int c = 0; c < d; c++) {
        y[i * d + c] = x[i * d + c] * rs * w[c];
      }
    }
    return y;
  }

  @Test
  void rope() {
    int batch = 1;
    int seq = 5;
    int heads = 2;
    int hd = 6;
    RopeTable table = new RopeTable(seq, hd, 10000f);
    double[] x = randomDoubles(batch * seq * heads * hd, 1);
    double[] r = randomDoubles(x.length, 1);
    double[] gx = numeric(x, r, xx -> rope(xx, table, batch, seq, heads, hd));
    for (Kernels k : all) {
      MemorySegment g = floats(r);
      k.rope(View.f32(g, 0), table, batch, seq, heads, 0, true);
      assertGradient(array(g), gx, k.name() + " dx");
    }
  }

  static double[] rope(double[] x, RopeTable t, int batch, int seq, int heads, int hd) {
    double[] y = x.clone();
    int half = hd / 2;
    for (int b = 0; b < batch; b++) {
      for (int s = 0; s < seq; s++) {
        for (int h = 0; h < heads; h++) {
          int base = ((b * seq + s) * heads + h) * hd;
          for (int j = 0; j < half; j++) {
            double c = t.cos(s, j);
            double sn = t.sin(s, j);
            y[base + j] = x[base + j] * c - x[base + j + half] * sn;
            y[base + j + half] = x[base + j + half] * c + x[base + j] * sn;
          }
        }
      }
    }
    return y;
  }

  @Test
  void attention() {
    int batch = 1;
    int seq = 6;
    int heads = 4;
    int kvHeads = 2;
    int hd = 4;
    int qn = batch * seq * heads * hd;
    int kvn = batch * seq * kvHeads * hd;
    double[] q = randomDoubles(qn, 1);
    double[] k = randomDoubles(kvn, 1);
    double[] v = randomDoubles(kvn, 1);
    double[] r = randomDoubles(qn, 1);
    double[] gq = numeric(q, r, qq -> attention(qq, k, v, batch, seq, heads, kvHeads, hd));
    double[] gk = numeric(k, r, kk -> attention(q, kk, v, batch, seq, heads, kvHeads, hd));
    double[] gv = numeric(v, r, vv -> attention(q, k, vv, batch, seq, heads, kvHeads, hd));
    for (Kernels kern : all) {
      MemorySegment out = zeros(qn);
      MemorySegment lse = zeros(batch * heads * seq);
      AttentionShape shape = new AttentionShape(batch, seq, heads, kvHeads, hd);
      kern.attentionForward(
          View.f32(out, 0),
          View.f32(lse, 0),
          View.f32(floats(q), 0),
          View.f32(floats(k), 0),
          View.f32(floats(v), 0),
          shape);
      MemorySegment dq = zeros(qn);
      MemorySegment dk = zeros(kvn);
      MemorySegment dv = zeros(kvn);
      kern.attentionBackward(
          View.f32(dq, 0),
          View.f32(dk, 0),
          View.f32(dv, 0),
          View.f32(floats(r), 0),
          View.f32(floats(q), 0),
          View.f32(floats(k), 0),
          View.f32(floats(v), 0),
          View.f32(out, 0),
          View.f32(lse, 0),
          shape);
      assertGradient(array(dq), gq, kern.name() + " dq");
      assertGradient(array(dk), gk, kern.name() + " dk");
      assertGradient(array(dv), gv, kern.name() + " dv");
    }
  }

  static double[] attention(
      double[] q, double[] k, double[] v, int batch, int seq, int heads, int kvHeads, int hd) {
    double[] out = new double[q.length];
    int group = heads / kvHeads;
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        int kh = h / group;
        for (int i = 0; i < seq; i++) {
          double[] p = new double[i + 1];
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j <= i; j++) {
            double s = 0;
            for (int c = 0; c < hd; c++) {
              s +=
                  q[((b * seq + i) * heads + h) * hd + c]
                      * k[((b * seq + j) * kvHeads + kh) * hd + c];
            }
            p[j] = s / Math.sqrt(hd);
            max = Math.max(max, p[j]);
          }
          double sum = 0;
          for (int j = 0; j <= i; j++) {
            p[j] = Math.exp(p[j] - max);
            sum += p[j];
          }
          for (int j = 0; j <= i; j++) {
            for (int c = 0; c < hd; c++) {
              out[((b * seq + i) * heads + h) * hd + c] +=
                  p[j] / sum * v[((b * seq + j) * kvHeads + kh) * hd + c];
            }
          }
        }
      }
    }
    return out;
  }

  @Test
  void swiglu() {
    int n = 37;
    double[] g = randomDoubles(n, 3);
    double[] u = randomDoubles(n, 1);
    double[] r = randomDoubles(n, 1);
    Function<double[], double[]> byG = gg -> swiglu(gg, u);
    Function<double[], double[]> byU = uu -> swiglu(g, uu);
    double[] gg = numeric(g, r, byG);
    double[] gu = numeric(u, r, byU);
    for (Kernels k : all) {
      MemorySegment dGate = zeros(n);
      MemorySegment dUp = zeros(n);
      k.swigluBackward(
          View.f32(dGate, 0),
          View.f32(dUp, 0),
          View.f32(floats(r), 0),
          View.f32(floats(g), 0),
          View.f32(floats(u), 0),
          n);
      assertGradient(array(dGate), gg, k.name() + " dGate");
      assertGradient(array(dUp), gu, k.name() + " dUp");
    }
  }

  static double[] swiglu(double[] g, double[] u) {
    double[] h = new double[g.length];
    for (int i = 0; i < g.length; i++) {
      h[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
    }
    return h;
  }

  @Test
  void crossEntropy() {
    int n = 4;
    int vocab = 9;
    int[] targets = {3, -1, 0, 8};
    double[] logits = randomDoubles(n * vocab, 2);
    // Mean loss over the counted rows; its gradient is what the kernel writes with gradScale 1/3.
    double[] one = {1};
    double[] g = numeric(logits, one, ll -> new double[] {crossEntropy(ll, targets, n, vocab) / 3});
    for (Kernels k : all) {
      MemorySegment x = floats(logits);
      double sum = k.crossEntropy(View.f32(x, 0), ids(targets), n, vocab, 1f / 3);
      assertThat(sum)
          .isCloseTo(
              crossEntropy(logits, targets, n, vocab), org.assertj.core.data.Offset.offset(1e-4));
      assertGradient(array(x), g, k.name() + " dlogits");
    }
  }

  static double crossEntropy(double[] logits, int[] targets, int n, int vocab) {
    double loss = 0;
    for (int i = 0; i < n; i++) {
      if (targets[i] < 0) {
        continue;
      }
      double max = Double.NEGATIVE_INFINITY;
      for (int c = 0; c < vocab; c++) {
        max = Math.max(max, logits[i * vocab + c]);
      }
      double sum = 0;
      for (int c = 0; c < vocab; c++) {
        sum += Math.exp(logits[i * vocab + c] - max);
      }
      loss += Math.log(sum) + max - logits[i * vocab + targets[i]];
    }
    return loss;
  }

  /** {@code values} as an i32 view (a heap segment: the host kernels read it as any other). */
  static View ids(int... values) {
    return View.i32(MemorySegment.ofArray(values), 0);
  }
}
