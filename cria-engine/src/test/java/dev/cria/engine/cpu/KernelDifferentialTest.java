package dev.cria.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.AdamWUpdate;
import dev.cria.engine.backend.AttentionShape;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.backend.RopeTable;
import dev.cria.engine.reference.ReferenceKernels;
import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every fast kernel against its plain reference twin, on shapes that are not multiples of the
 * vector width or the tiles, with an odd number of threads.
 */
class KernelDifferentialTest {
  static Parallel parallel;
  static Kernels fast;
  static final Kernels REFERENCE = new ReferenceKernels();
  final Random random = new Random(42);

  @BeforeAll
  static void start() {
    parallel = Parallel.create(3);
    fast = new CpuKernels(parallel);
  }

  @AfterAll
  static void stop() {
    parallel.close();
  }

  MemorySegment randomSegment(long n, float scale) {
    float[] v = new float[(int) n];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (random.nextGaussian() * scale);
    }
    return MemorySegment.ofArray(v);
  }

  static MemorySegment copy(MemorySegment s) {
    return MemorySegment.ofArray(s.toArray(ValueLayout.JAVA_FLOAT));
  }

  static void assertClose(
      MemorySegment actual, MemorySegment expected, double tolerance, String what) {
    float[] a = actual.toArray(ValueLayout.JAVA_FLOAT);
    float[] e = expected.toArray(ValueLayout.JAVA_FLOAT);
    assertThat(a).hasSameSizeAs(e);
    double scale = 1e-6;
    for (float x : e) {
      scale = Math.max(scale, Math.abs(x));
    }
    for (int i = 0; i < a.length; i++) {
      assertThat(Math.abs(a[i] - e[i]) / scale)
          .as("%s[%d]: %s vs %s", what, i, a[i], e[i])
          .isLessThanOrEqualTo(tolerance);
    }
  }

  @Test
  void linear() {
    int n = 37;
    int in = 45;
    int out = 29;
    MemorySegment x = randomSegment((long) n * in, 1);
    MemorySegment w = randomSegment((long) out * in, 0.1f);
    MemorySegment y1 = randomSegment((long) n * out, 1);
    MemorySegment y2 = randomSegment((long) n * out, 1);
    fast.linearForward(View.f32(y1, 0), View.f32(x, 0), View.f32(w, 0), n, in, out);
    REFERENCE.linearForward(View.f32(y2, 0), View.f32(x, 0), View.f32(w, 0), n, in, out);
    assertClose(y1, y2, 1e-5, "y");

    MemorySegment dy = randomSegment((long) n * out, 1);
    for (boolean overwrite : new boolean[] {true, false}) {
      MemorySegment dx1 = randomSegment((long) n * in, 1);
      MemorySegment dx2 = copy(dx1);
      MemorySegment dw1 = randomSegment((long) out * in, 1);
      MemorySegment dw2 = copy(dw1);
      fast.linearBackward(
          View.f32(dx1, 0),
          overwrite,
          View.f32(dw1, 0),
          View.f32(dy, 0),
          View.f32(x, 0),
          View.f32(w, 0),
          n,
          in,
          out);
      REFERENCE.linearBackward(
          View.f32(dx2, 0),
          overwrite,
          View.f32(dw2, 0),
          View.f32(dy, 0),
          View.f32(x, 0),
          View.f32(w, 0),
          n,
          in,
          out);
      assertClose(dx1, dx2, 1e-5, "dx");
      assertClose(dw1, dw2, 1e-5, "dw");
    }
  }

  @Test
  void embedding() {
    int n = 41;
    int d = 35;
    int vocab = 13;
    int[] tokens = random.ints(n, 0, vocab).toArray();
    MemorySegment table = randomSegment((long) vocab * d, 1);
    MemorySegment o1 = randomSegment((long) n * d, 1);
    MemorySegment o2 = randomSegment((long) n * d, 1);
    fast.embeddingForward(View.f32(o1, 0), View.f32(table, 0), ids(tokens), n, d);
    REFERENCE.embeddingForward(View.f32(o2, 0), View.f32(table, 0), ids(tokens), n, d);
    assertClose(o1, o2, 0, "out");
    MemorySegment g1 = randomSegment((long) vocab * d, 1);
    MemorySegment g2 = copy(g1);
    fast.embeddingBackward(View.f32(g1, 0), View.f32(o1, 0), ids(tokens), n, d);
    REFERENCE.embeddingBackward(View.f32(g2, 0), View.f32(o1, 0), ids(tokens), n, d);
    assertClose(g1, g2, 1e-6, "dTable");
  }

  @Test
  void anEmbeddingTokenOfMinusOneReadsZerosAndLearnsNothing() {
    int n = 9;
    int d = 35;
    int vocab = 5;
    int[] tokens = {3, -1, 0, -1, -1, 4, 3, -1, 1};
    MemorySegment table = randomSegment((long) vocab * d, 1);
    MemorySegment o1 = randomSegment((long) n * d, 1);
    MemorySegment o2 = randomSegment((long) n * d, 1);
    fast.embeddingForward(View.f32(o1, 0), View.f32(table, 0), ids(tokens), n, d);
    REFERENCE.embeddingForward(View.f32(o2, 0), View.f32(table, 0), ids(tokens), n, d);
    assertClose(o1, o2, 0, "out");
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < d; c++) {
        float expected =
            tokens[i] < 0 ? 0f : table.getAtIndex(ValueLayout.JAVA_FLOAT, (long) tokens[i] * d + c);
        assertThat(o1.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * d + c))
            .as("row %d column %d", i, c)
            .isEqualTo(expected);
      }
    }
    MemorySegment dOut = randomSegment((long) n * d, 1);
    MemorySegment g1 = randomSegment((long) vocab * d, 1);
    MemorySegment g2 = copy(g1);
    MemorySegment before = copy(g1);
    fast.embeddingBackward(View.f32(g1, 0), View.f32(dOut, 0), ids(tokens), n, d);
    REFERENCE.embeddingBackward(View.f32(g2, 0), View.f32(dOut, 0), ids(tokens), n, d);
    assertClose(g1, g2, 1e-6, "dTable");
    int[] none = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
    MemorySegment untouched = copy(before);
    fast.embeddingBackward(View.f32(before, 0), View.f32(dOut, 0), ids(none), n, d);
    assertClose(before, untouched, 0, "dTable after only -1 tokens");
    REFERENCE.embeddingBackward(View.f32(g2, 0), View.f32(dOut, 0), ids(none), n, d);
    assertClose(g2, g1, 0, "dTable after only -1 tokens (reference)");
  }

  @Test
  void softmaxStatisticsAndGradientOfASlice() {
    int n = 7;
    int v = 37; // no multiple of a vector
    MemorySegment logits = randomSegment((long) n * v, 3);
    MemorySegment max1 = randomSegment(n, 1);
    MemorySegment sums1 = randomSegment(n, 1);
    MemorySegment max2 = randomSegment(n, 1);
    MemorySegment sums2 = randomSegment(n, 1);
    int[] targets = {3, Kernels.TARGET_ELSEWHERE, 36, Kernels.NOT_COUNTED, 0, 17, -1};
    MemorySegment picked1 = randomSegment(n, 4);
    MemorySegment picked2 = randomSegment(n, 5);
    fast.softmaxStatistics(
        View.f32(max1, 0),
        View.f32(sums1, 0),
        View.f32(picked1, 0),
        View.f32(logits, 0),
        ids(targets),
        n,
        v);
    REFERENCE.softmaxStatistics(
        View.f32(max2, 0),
        View.f32(sums2, 0),
        View.f32(picked2, 0),
        View.f32(logits, 0),
        ids(targets),
        n,
        v);
    assertClose(max1, max2, 0, "max");
    assertClose(sums1, sums2, 1e-6, "sums");
    for (int i = 0; i < n; i++) {
      float expected =
          targets[i] >= 0
              ? logits.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * v + targets[i])
              : 0;
      assertThat(picked1.getAtIndex(ValueLayout.JAVA_FLOAT, i)).as("row %d", i).isEqualTo(expected);
      assertThat(picked2.getAtIndex(ValueLayout.JAVA_FLOAT, i)).as("row %d", i).isEqualTo(expected);
    }
    // the whole row's statistics, as if other slices held larger logits
    MemorySegment max = copy(max2);
    MemorySegment sums = copy(sums2);
    for (int i = 0; i < n; i++) {
      max.setAtIndex(ValueLayout.JAVA_FLOAT, i, max2.getAtIndex(ValueLayout.JAVA_FLOAT, i) + 0.5f);
      sums.setAtIndex(ValueLayout.JAVA_FLOAT, i, sums2.getAtIndex(ValueLayout.JAVA_FLOAT, i) + 2f);
    }
    MemorySegment g1 = copy(logits);
    MemorySegment g2 = copy(logits);
    fast.softmaxGradient(
        View.f32(g1, 0), View.f32(max, 0), View.f32(sums, 0), ids(targets), n, v, 0.25f);
    REFERENCE.softmaxGradient(
        View.f32(g2, 0), View.f32(max, 0), View.f32(sums, 0), ids(targets), n, v, 0.25f);
    assertClose(g1, g2, 1e-6, "gradient");
    for (int c = 0; c < v; c++) {
      assertThat(g1.getAtIndex(ValueLayout.JAVA_FLOAT, 3L * v + c))
          .as("a row not counted")
          .isZero();
      double expected =
          Math.exp(
                  logits.getAtIndex(ValueLayout.JAVA_FLOAT, c)
                      - max.getAtIndex(ValueLayout.JAVA_FLOAT, 0))
              / sums.getAtIndex(ValueLayout.JAVA_FLOAT, 0)
              * 0.25;
      assertThat((double) g2.getAtIndex(ValueLayout.JAVA_FLOAT, c))
          .as("row 0 column %d", c)
          .isCloseTo(
              c == 3 ? expected - 0.25 : expected, org.assertj.core.data.Offset.offset(1e-7));
    }
  }

  @Test
  void rmsNorm() {
    int n = 23;
    int d = 53;
    MemorySegment x = randomSegment((long) n * d, 2);
    MemorySegment w = randomSegment(d, 1);
    MemorySegment o1 = randomSegment((long) n * d, 1);
    MemorySegment o2 = randomSegment((long) n * d, 1);
    MemorySegment r1 = randomSegment(n, 1);
    MemorySegment r2 = randomSegment(n, 1);
    fast.rmsNormForward(
        View.f32(o1, 0), View.f32(r1, 0), View.f32(x, 0), View.f32(w, 0), n, d, 1e-5f);
    REFERENCE.rmsNormForward(
        View.f32(o2, 0), View.f32(r2, 0), View.f32(x, 0), View.f32(w, 0), n, d, 1e-5f);
    assertClose(o1, o2, 1e-6, "out");
    assertClose(r1, r2, 1e-6, "rstd");
    MemorySegment dOut = randomSegment((long) n * d, 1);
    MemorySegment dx1 = randomSegment((long) n * d, 1);
    MemorySegment dx2 = copy(dx1);
    MemorySegment dw1 = randomSegment(d, 1);
    MemorySegment dw2 = copy(dw1);
    fast.rmsNormBackward(
        View.f32(dx1, 0),
        View.f32(dw1, 0),
        View.f32(dOut, 0),
        View.f32(x, 0),
        View.f32(w, 0),
        View.f32(r1, 0),
        n,
        d);
    REFERENCE.rmsNormBackward(
        View.f32(dx2, 0),
        View.f32(dw2, 0),
        View.f32(dOut, 0),
        View.f32(x, 0),
        View.f32(w, 0),
        View.f32(r2, 0),
        n,
        d);
    assertClose(dx1, dx2, 1e-5, "dx");
    assertClose(dw1, dw2, 1e-5, "dw");
  }

  @Test
  void rope() {
    int batch = 2;
    int seq = 11;
    int heads = 3;
    int hd = 10;
    RopeTable table = new RopeTable(seq, hd, 10000f);
    MemorySegment x1 = randomSegment((long) batch * seq * heads * hd, 1);
    MemorySegment x2 = copy(x1);
    MemorySegment original = copy(x1);
    fast.rope(View.f32(x1, 0), table, batch, seq, heads, 0, false);
    REFERENCE.rope(View.f32(x2, 0), table, batch, seq, heads, 0, false);
    assertClose(x1, x2, 1e-6, "rope");
    fast.rope(View.f32(x1, 0), table, batch, seq, heads, 0, true);
    assertClose(x1, original, 1e-6, "inverse(rope(x))");
  }

  @Test
  void ropeOfOneRowAtAPositionIsThatRowOfTheWholeSequence() {
    int seq = 9;
    int heads = 2;
    int hd = 8;
    RopeTable table = new RopeTable(seq, hd, 10000f);
    MemorySegment whole = randomSegment((long) seq * heads * hd, 1);
    int position = 6;
    long rowFloats = (long) heads * hd;
    MemorySegment row = copy(whole.asSlice(position * rowFloats * 4, rowFloats * 4));
    MemorySegment rowReference = copy(row);
    fast.rope(View.f32(whole, 0), table, 1, seq, heads, 0, false);
    fast.rope(View.f32(row, 0), table, 1, 1, heads, position, false);
    REFERENCE.rope(View.f32(rowReference, 0), table, 1, 1, heads, position, false);
    assertClose(row, whole.asSlice(position * rowFloats * 4, rowFloats * 4), 0, "row at position");
    assertClose(row, rowReference, 1e-6, "reference row at position");
  }

  @Test
  void attentionOverACacheIsTheLastRowOfCausalAttention() {
    for (int[] shape : new int[][] {{7, 4, 2, 10}, {1, 3, 3, 6}, {300, 2, 1, 16}}) {
      int positions = shape[0];
      int heads = shape[1];
      int kvHeads = shape[2];
      int hd = shape[3];
      long qn = (long) positions * heads * hd;
      long kvn = (long) positions * kvHeads * hd;
      MemorySegment q = randomSegment(qn, 1);
      MemorySegment k = randomSegment(kvn, 1);
      MemorySegment v = randomSegment(kvn, 1);
      MemorySegment out = randomSegment(qn, 1);
      MemorySegment lse = randomSegment((long) heads * positions, 1);
      REFERENCE.attentionForward(
          View.f32(out, 0),
          View.f32(lse, 0),
          View.f32(q, 0),
          View.f32(k, 0),
          View.f32(v, 0),
          new AttentionShape(1, positions, heads, kvHeads, hd));
      long last = (long) (positions - 1) * heads * hd;
      MemorySegment d1 = randomSegment((long) heads * hd, 1);
      MemorySegment d2 = randomSegment((long) heads * hd, 1);
      fast.attentionDecode(
          View.f32(d1, 0),
          View.f32(q, last),
          View.f32(k, 0),
          View.f32(v, 0),
          positions,
          heads,
          kvHeads,
          hd);
      REFERENCE.attentionDecode(
          View.f32(d2, 0),
          View.f32(q, last),
          View.f32(k, 0),
          View.f32(v, 0),
          positions,
          heads,
          kvHeads,
          hd);
      MemorySegment expected = out.asSlice(last * 4, (long) heads * hd * 4);
      assertClose(d1, expected, 1e-5, "decode vs causal attention");
      assertClose(d2, expected, 1e-5, "reference decode vs causal attention");
    }
  }

  @Test
  void matVecWritesOrAccumulatesEveryRow() {
    int rows = 37;
    int cols = 131;
    MemorySegment w = randomSegment((long) rows * cols + 5, 1);
    MemorySegment x = randomSegment(cols + 3, 1);
    MemorySegment y1 = randomSegment(rows + 2, 1);
    MemorySegment y2 = copy(y1);
    fast.matVec(View.f32(y1, 2), View.f32(w, 5), View.f32(x, 3), rows, cols, true);
    REFERENCE.matVec(View.f32(y2, 2), View.f32(w, 5), View.f32(x, 3), rows, cols, true);
    assertClose(y1, y2, 1e-5, "accumulate");
    fast.matVec(View.f32(y1, 2), View.f32(w, 5), View.f32(x, 3), rows, cols, false);
    REFERENCE.matVec(View.f32(y2, 2), View.f32(w, 5), View.f32(x, 3), rows, cols, false);
    assertClose(y1, y2, 1e-5, "overwrite");
    double exact = 0;
    for (int c = 0; c < cols; c++) {
      exact +=
          (double) w.getAtIndex(ValueLayout.JAVA_FLOAT, 5 + 4L * cols + c)
              * x.getAtIndex(ValueLayout.JAVA_FLOAT, 3 + c);
    }
    assertThat((double) y1.getAtIndex(ValueLayout.JAVA_FLOAT, 2 + 4))
        .isCloseTo(exact, org.assertj.core.data.Offset.offset(1e-4));
  }

  @Test
  void adamwIsTheReferenceBitForBit() {
    long n = 200_003; // several chunks and a scalar tail
    long from = 17;
    MemorySegment g = randomSegment(n, 1);
    MemorySegment p1 = randomSegment(n, 1);
    MemorySegment m1 = randomSegment(n - from, 0.1f);
    MemorySegment v1 = randomSegment(n - from, 0.1f);
    for (long i = 0; i < n - from; i++) {
      v1.setAtIndex(ValueLayout.JAVA_FLOAT, i, Math.abs(v1.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
    }
    MemorySegment p2 = copy(p1);
    MemorySegment m2 = copy(m1);
    MemorySegment v2 = copy(v1);
    AdamWUpdate u = new AdamWUpdate(1e-3f, 1 - 1e-4f, 0.9f, 0.95f, 0.19f, 0.0975f, 1e-8f);
    fast.adamw(
        View.f32(p1, from), View.f32(g, from), View.f32(m1, 0), View.f32(v1, 0), n - from, u);
    REFERENCE.adamw(
        View.f32(p2, from), View.f32(g, from), View.f32(m2, 0), View.f32(v2, 0), n - from, u);
    assertClose(p1, p2, 0, "parameters");
    assertClose(m1, m2, 0, "first moment");
    assertClose(v1, v2, 0, "second moment");
  }

  @Test
  void attentionWithGroupedHeadsAndSeveralKeyBlocks() {
    // batch, seq, heads, kv heads, head dim: tails of every loop, several query and key blocks,
    // and the presets' head sizes (48, 64) with a sequence that is no multiple of a block
    int[][] shapes = {
      {2, 19, 4, 2, 10}, {1, 300, 2, 1, 16}, {1, 5, 3, 3, 6}, {1, 173, 2, 1, 48}, {2, 150, 2, 2, 64}
    };
    for (int[] shape : shapes) {
      int batch = shape[0];
      int seq = shape[1];
      int heads = shape[2];
      int kvHeads = shape[3];
      int hd = shape[4];
      long qn = (long) batch * seq * heads * hd;
      long kvn = (long) batch * seq * kvHeads * hd;
      MemorySegment q = randomSegment(qn, 1);
      MemorySegment k = randomSegment(kvn, 1);
      MemorySegment v = randomSegment(kvn, 1);
      MemorySegment o1 = randomSegment(qn, 1);
      MemorySegment o2 = randomSegment(qn, 1);
      MemorySegment l1 = randomSegment((long) batch * heads * seq, 1);
      MemorySegment l2 = randomSegment((long) batch * heads * seq, 1);
      AttentionShape as = new AttentionShape(batch, seq, heads, kvHeads, hd);
      fast.attentionForward(
          View.f32(o1, 0), View.f32(l1, 0), View.f32(q, 0), View.f32(k, 0), View.f32(v, 0), as);
      REFERENCE.attentionForward(
          View.f32(o2, 0), View.f32(l2, 0), View.f32(q, 0), View.f32(k, 0), View.f32(v, 0), as);
      assertClose(o1, o2, 1e-5, "out");
      assertClose(l1, l2, 1e-5, "lse");

      MemorySegment dOut = randomSegment(qn, 1);
      MemorySegment[] g1 = {randomSegment(qn, 1), randomSegment(kvn, 1), randomSegment(kvn, 1)};
      MemorySegment[] g2 = {randomSegment(qn, 1), randomSegment(kvn, 1), randomSegment(kvn, 1)};
      fast.attentionBackward(
          View.f32(g1[0], 0),
          View.f32(g1[1], 0),
          View.f32(g1[2], 0),
          View.f32(dOut, 0),
          View.f32(q, 0),
          View.f32(k, 0),
          View.f32(v, 0),
          View.f32(o2, 0),
          View.f32(l2, 0),
          as);
      REFERENCE.attentionBackward(
          View.f32(g2[0], 0),
          View.f32(g2[1], 0),
          View.f32(g2[2], 0),
          View.f32(dOut, 0),
          View.f32(q, 0),
          View.f32(k, 0),
          View.f32(v, 0),
          View.f32(o2, 0),
          View.f32(l2, 0),
          as);
      assertClose(g1[0], g2[0], 1e-4, "dq");
      assertClose(g1[1], g2[1], 1e-4, "dk");
      assertClose(g1[2], g2[2], 1e-4, "dv");
    }
  }

  @Test
  void swiglu() {
    long count = 100_003;
    MemorySegment gate = randomSegment(count, 3);
    MemorySegment up = randomSegment(count, 1);
    MemorySegment h1 = randomSegment(count, 1);
    MemorySegment h2 = randomSegment(count, 1);
    fast.swigluForward(View.f32(h1, 0), View.f32(gate, 0), View.f32(up, 0), count);
    REFERENCE.swigluForward(View.f32(h2, 0), View.f32(gate, 0), View.f32(up, 0), count);
    assertClose(h1, h2, 1e-6, "h");
    MemorySegment dh = randomSegment(count, 1);
    MemorySegment[] a = {randomSegment(count, 1), randomSegment(count, 1)};
    MemorySegment[] b = {randomSegment(count, 1), randomSegment(count, 1)};
    fast.swigluBackward(
        View.f32(a[0], 0),
        View.f32(a[1], 0),
        View.f32(dh, 0),
        View.f32(gate, 0),
        View.f32(up, 0),
        count);
    REFERENCE.swigluBackward(
        View.f32(b[0], 0),
        View.f32(b[1], 0),
        View.f32(dh, 0),
        View.f32(gate, 0),
        View.f32(up, 0),
        count);
    assertClose(a[0], b[0], 1e-5, "dGate");
    assertClose(a[1], b[1], 1e-5, "dUp");
  }

  @Test
  void crossEntropyIgnoresMinusOne() {
    int n = 17;
    int vocab = 1003;
    int[] targets = random.ints(n, 0, vocab).toArray();
    targets[3] = -1;
    targets[16] = -1;
    MemorySegment logits1 = randomSegment((long) n * vocab, 4);
    MemorySegment logits2 = copy(logits1);
    double l1 = fast.crossEntropy(View.f32(logits1, 0), ids(targets), n, vocab, 0.25f);
    double l2 = REFERENCE.crossEntropy(View.f32(logits2, 0), ids(targets), n, vocab, 0.25f);
    assertThat(l1).isCloseTo(l2, org.assertj.core.data.Percentage.withPercentage(1e-4));
    assertClose(logits1, logits2, 1e-5, "dlogits");
    for (int c = 0; c < vocab; c++) {
      assertThat(logits1.getAtIndex(ValueLayout.JAVA_FLOAT, 3L * vocab + c)).isZero();
    }
  }

  @Test
  void crossEntropyIntoBf16IsTheFp32GradientRoundedAndLeavesTheLogits() {
    int n = 13;
    int vocab = 1003; // not a multiple of any vector length
    int[] targets = random.ints(n, 0, vocab).toArray();
    targets[4] = -1;
    targets[7] = vocab - 1;
    MemorySegment logits = randomSegment((long) n * vocab, 4);
    for (Kernels k : new Kernels[] {fast, REFERENCE}) {
      MemorySegment inPlace = copy(logits);
      MemorySegment kept = copy(logits);
      MemorySegment bf16 = java.lang.foreign.Arena.ofAuto().allocate(2L * (n * vocab + 3), 2);
      bf16.fill((byte) 0x55); // every element is written, the -1 row's as zeros
      double l1 = k.crossEntropy(View.f32(inPlace, 0), ids(targets), n, vocab, 0.25f);
      double l2 =
          k.crossEntropy(View.bf16(bf16, 3), View.f32(kept, 0), ids(targets), n, vocab, 0.25f);
      assertThat(l2).as(k.name()).isEqualTo(l1);
      assertClose(kept, logits, 0, k.name() + " logits kept");
      for (long i = 0; i < (long) n * vocab; i++) {
        short expected = Bf16.round(inPlace.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        if (bf16.getAtIndex(Bf16.LAYOUT, 3 + i) != expected) {
          throw new AssertionError(
              k.name() + ": element " + i + " is not the fp32 gradient rounded to bf16");
        }
      }
    }
  }

  @Test
  void elementwise() {
    long count = 70_001;
    MemorySegment a1 = randomSegment(count, 1);
    MemorySegment a2 = copy(a1);
    MemorySegment b = randomSegment(count, 1);
    fast.add(View.f32(a1, 0), View.f32(b, 0), count);
    REFERENCE.add(View.f32(a2, 0), View.f32(b, 0), count);
    assertClose(a1, a2, 0, "add");
    assertThat(fast.sumOfSquares(View.f32(a1, 0), count))
        .isCloseTo(
            REFERENCE.sumOfSquares(View.f32(a2, 0), count),
            org.assertj.core.data.Percentage.withPercentage(1e-4));
    fast.scale(View.f32(a1, 0), count, 0.5f);
    REFERENCE.scale(View.f32(a2, 0), count, 0.5f);
    assertClose(a1, a2, 0, "scale");
  }

  /** {@code values} as an i32 view (a heap segment: the host kernels read it as any other). */
  static View ids(int... values) {
    return View.i32(MemorySegment.ofArray(values), 0);
  }
}
