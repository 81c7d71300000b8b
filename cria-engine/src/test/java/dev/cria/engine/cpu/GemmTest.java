package dev.cria.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(300)
class GemmTest {

  private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
  private static final int NR = Gemm.NR;

  /** Block sizes small enough that modest shapes cross every block boundary (kc, mc, nc). */
  private static final Gemm.Blocking TINY12 = new Gemm.Blocking(12, 7, 24, 2 * NR);

  private static final Gemm.Blocking TINY6 = new Gemm.Blocking(6, 5, 18, NR);

  private static final Gemm.Blocking DEFAULT6 = new Gemm.Blocking(6, 512, 132, 1024);

  private static Parallel three;

  @BeforeAll
  static void pool() {
    three = Parallel.create(3);
  }

  @AfterAll
  static void close() {
    three.close();
  }

  /** Shapes: 1, odd, prime, tile-edge (MR = 12 or 6, NR = 32) and block-edge (kc = 256) sizes. */
  private static final int[][] SHAPES = {
    {1, 1, 1},
    {1, 5, 3},
    {3, 1, 2},
    {2, 3, 1},
    {7, 13, 17},
    {12, 32, 8},
    {11, 31, 9},
    {13, 33, 10},
    {24, 64, 256},
    {25, 65, 257},
    {37, 97, 41},
    {6, 200, 19},
    {61, 7, 53},
    {100, 45, 300},
    {253, 29, 11},
  };

  @Test
  void matchesReferenceForAllTransposesShapesAndScalars() {
    Random random = new Random(42);
    float[][] scalars = {
      {1f, 0f}, {1f, 1f}, {0.5f, 0.5f}, {0.5f, 1f}, {1f, 0.5f}, {0f, 0.5f}, {0f, 0f}
    };
    int cases = 0;
    for (int[] shape : SHAPES) {
      for (int trans = 0; trans < 4; trans++) {
        float[] ab = scalars[(cases) % scalars.length];
        boolean tA = (trans & 1) != 0;
        boolean tB = (trans & 2) != 0;
        Parallel p = cases % 2 == 0 ? Parallel.serial() : three;
        check(Gemm.DEFAULT, p, tA, tB, shape[0], shape[1], shape[2], ab[0], ab[1], random, false);
        check(
            Gemm.DEFAULT,
            p == three ? Parallel.serial() : three,
            tA,
            tB,
            shape[0],
            shape[1],
            shape[2],
            ab[0],
            ab[1],
            random,
            true);
        cases++;
      }
    }
  }

  @Test
  void everyScalarPairOnEveryTranspose() {
    Random random = new Random(5);
    for (float alpha : new float[] {0f, 1f, 0.5f}) {
      for (float beta : new float[] {0f, 1f, 0.5f}) {
        for (int trans = 0; trans < 4; trans++) {
          for (Parallel p : new Parallel[] {Parallel.serial(), three}) {
            check(
                Gemm.DEFAULT,
                p,
                (trans & 1) != 0,
                (trans & 2) != 0,
                29,
                41,
                23,
                alpha,
                beta,
                random,
                true);
          }
        }
      }
    }
  }

  @Test
  void tinyBlocksExerciseEveryLoopBoundary() {
    Random random = new Random(7);
    int[][] shapes = {
      {1, 1, 1}, {13, 67, 15}, {50, 130, 29}, {24, 64, 14}, {97, 3, 8}, {5, 200, 6}
    };
    for (Gemm.Blocking bl : new Gemm.Blocking[] {TINY12, TINY6}) {
      for (int[] s : shapes) {
        for (int trans = 0; trans < 4; trans++) {
          for (Parallel p : new Parallel[] {Parallel.serial(), three}) {
            check(
                bl,
                p,
                (trans & 1) != 0,
                (trans & 2) != 0,
                s[0],
                s[1],
                s[2],
                0.5f,
                1f,
                random,
                true);
            check(
                bl, p, (trans & 1) != 0, (trans & 2) != 0, s[0], s[1], s[2], 1f, 0f, random, false);
          }
        }
      }
    }
  }

  @Test
  void theNarrowVectorKernelMatchesToo() {
    Random random = new Random(11);
    for (int[] shape : SHAPES) {
      for (int trans = 0; trans < 4; trans++) {
        check(
            DEFAULT6,
            three,
            (trans & 1) != 0,
            (trans & 2) != 0,
            shape[0],
            shape[1],
            shape[2],
            0.5f,
            0.5f,
            random,
            true);
      }
    }
  }

  @Test
  void trainingShapedProductsMatchOnThreeThreads() {
    Random random = new Random(3);
    int t = 70;
    int in = 288;
    int out = 200;
    // forward Y = X W^T, input gradient dX += dY W, weight gradient dW += dY^T X
    check(Gemm.DEFAULT, three, false, true, t, out, in, 1f, 0f, random, false);
    check(Gemm.DEFAULT, three, false, false, t, in, out, 1f, 1f, random, false);
    check(Gemm.DEFAULT, three, true, false, out, in, t, 1f, 1f, random, false);
    // k longer than one kc block, with padding
    check(Gemm.DEFAULT, three, true, false, 40, 72, 600, 1f, 1f, random, true);
    check(Gemm.DEFAULT, three, false, true, 40, 72, 600, 1f, 1f, random, true);
  }

  @Test
  void betaZeroOverwritesNaNAndAlphaZeroReadsNeitherAnorB() {
    try (Arena arena = Arena.ofShared()) {
      int m = 17;
      int n = 35;
      int k = 9;
      MemorySegment a = arena.allocate((long) m * k * 4);
      MemorySegment b = arena.allocate((long) k * n * 4);
      MemorySegment c = arena.allocate((long) m * n * 4);
      for (long i = 0; i < m * k; i++) {
        a.setAtIndex(F, i, 1f);
      }
      for (long i = 0; i < k * n; i++) {
        b.setAtIndex(F, i, 2f);
      }
      fill(c, Float.NaN);
      Gemm.sgemm(three, false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c, 0, n);
      for (long i = 0; i < m * n; i++) {
        assertThat(c.getAtIndex(F, i)).isEqualTo(18f);
      }
      fill(a, Float.NaN);
      fill(b, Float.NaN);
      Gemm.sgemm(three, false, false, m, n, k, 0f, a, 0, k, b, 0, n, 0.5f, c, 0, n);
      for (long i = 0; i < m * n; i++) {
        assertThat(c.getAtIndex(F, i)).isEqualTo(9f);
      }
      fill(c, Float.NaN);
      Gemm.sgemm(three, true, true, m, n, k, 0f, a, 0, m, b, 0, k, 0f, c, 0, n);
      for (long i = 0; i < m * n; i++) {
        assertThat(c.getAtIndex(F, i)).isEqualTo(0f);
      }
      // k == 0: C = beta * C
      fill(c, 4f);
      Gemm.sgemm(Parallel.serial(), false, false, m, n, 0, 1f, a, 0, 1, b, 0, n, 0.5f, c, 0, n);
      assertThat(c.getAtIndex(F, 0)).isEqualTo(2f);
    }
  }

  @Test
  void rejectsBadArguments() {
    try (Arena arena = Arena.ofShared()) {
      MemorySegment s = arena.allocate(100 * 4);
      Parallel p = Parallel.serial();
      assertThatThrownBy(
              () -> Gemm.sgemm(p, false, false, -1, 2, 2, 1f, s, 0, 2, s, 0, 2, 0f, s, 0, 2))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(
              () -> Gemm.sgemm(p, false, false, 2, 2, 3, 1f, s, 0, 2, s, 0, 2, 0f, s, 0, 2))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("lda");
      assertThatThrownBy(
              () -> Gemm.sgemm(p, false, false, 2, 2, 2, 1f, s, 0, 2, s, 0, 2, 0f, s, 0, 1))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("ldc");
      assertThatThrownBy(
              () -> Gemm.sgemm(p, false, false, 10, 10, 2, 1f, s, 0, 2, s, 0, 10, 0f, s, 1, 10))
          .isInstanceOf(IndexOutOfBoundsException.class)
          .hasMessageContaining("C");
      assertThatThrownBy(() ->
              Gemm.sgemm(p, true, false, 10, 2, 10, 1f, s, 1L << 40, 10, s, 0, 2, 0f, s, 0, 2))
          .isInstanceOf(IndexOutOfBoundsException.class)
          .hasMessageContaining("A");
      // exactly fitting matrices are accepted: C (2 x 10) ends at the last float of its segment
      MemorySegment c = arena.allocate(25 * 4);
      Gemm.sgemm(p, false, false, 2, 10, 10, 1f, s, 0, 10, s, 0, 10, 0f, c, 5, 10);
    }
  }

  @Test
  void resultsAreBitwiseIdenticalForAnyNumberOfThreads() {
    Random random = new Random(9);
    try (Arena arena = Arena.ofShared();
        Parallel two = Parallel.create(2)) {
      int m = 100;
      int n = 150;
      int k = 700; // two k blocks
      MemorySegment a = arena.allocate((long) m * k * 4);
      MemorySegment b = arena.allocate((long) k * n * 4);
      randomFill(a, random);
      randomFill(b, random);
      MemorySegment[] c = new MemorySegment[3];
      Parallel[] pools = {Parallel.serial(), two, three};
      for (int i = 0; i < 3; i++) {
        c[i] = arena.allocate((long) m * n * 4);
        fill(c[i], 0.25f);
        Gemm.sgemm(pools[i], false, true, m, n, k, 0.5f, a, 0, k, b, 0, k, 1f, c[i], 0, n);
      }
      assertThat(c[1].mismatch(c[0])).isEqualTo(-1);
      assertThat(c[2].mismatch(c[0])).isEqualTo(-1);
    }
  }

  @Test
  void confinedSegmentsWorkSeriallyAndAreRejectedWithThreads() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment a = arena.allocate(4 * 4);
      fill(a, 1f);
      MemorySegment c = arena.allocate(4 * 4);
      Gemm.sgemm(Parallel.serial(), false, false, 2, 2, 2, 1f, a, 0, 2, a, 0, 2, 0f, c, 0, 2);
      assertThat(c.getAtIndex(F, 3)).isEqualTo(2f);
      assertThatThrownBy(
              () -> Gemm.sgemm(three, false, false, 2, 2, 2, 1f, a, 0, 2, a, 0, 2, 0f, c, 0, 2))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("confined");
    }
  }

  @Test
  void nestedCallsFromInsideAPoolBodyWork() {
    Random random = new Random(13);
    try (Arena arena = Arena.ofShared()) {
      int m = 40;
      int n = 70;
      int k = 30;
      MemorySegment a = arena.allocate((long) m * k * 4);
      MemorySegment b = arena.allocate((long) k * n * 4);
      randomFill(a, random);
      randomFill(b, random);
      MemorySegment expected = arena.allocate((long) m * n * 4);
      Gemm.sgemm(
          Parallel.serial(), false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, expected, 0, n);
      MemorySegment[] c = new MemorySegment[3];
      for (int i = 0; i < 3; i++) {
        c[i] = arena.allocate((long) m * n * 4);
      }
      three.forRange(
          0,
          3,
          (from, to, worker) -> {
            for (int i = from; i < to; i++) {
              Gemm.sgemm(three, false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c[i], 0, n);
            }
          });
      for (MemorySegment ci : c) {
        assertThat(ci.mismatch(expected)).isEqualTo(-1);
      }
    }
  }

  @Test
  void heapSegmentsWork() {
    float[] a = {1, 2, 3, 4, 5, 6}; // 2 x 3
    float[] b = {1, 0, 0, 1, 1, 1}; // 3 x 2
    float[] c = new float[4];
    Gemm.sgemm(
        Parallel.serial(),
        false,
        false,
        2,
        2,
        3,
        1f,
        MemorySegment.ofArray(a),
        0,
        3,
        MemorySegment.ofArray(b),
        0,
        2,
        0f,
        MemorySegment.ofArray(c),
        0,
        2);
    assertThat(c).containsExactly(4, 5, 10, 11);
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Runs {@link Gemm#sgemm} and {@link Gemm#reference} on the same random inputs and compares. With
   * {@code padded}, every matrix gets a leading dimension larger than its row, a nonzero offset,
   * and the padding of C is checked untouched; with {@code beta == 0}, C starts as NaN.
   */
  private static void check(
      Gemm.Blocking bl,
      Parallel p,
      boolean tA,
      boolean tB,
      int m,
      int n,
      int k,
      float alpha,
      float beta,
      Random random,
      boolean padded) {
    int aRows = tA ? k : m;
    int aCols = tA ? m : k;
    int bRows = tB ? n : k;
    int bCols = tB ? k : n;
    int lda = aCols + (padded ? 3 : 0);
    int ldb = bCols + (padded ? 5 : 0);
    int ldc = n + (padded ? 2 : 0);
    long aOff = padded ? 13 : 0;
    long bOff = padded ? 7 : 0;
    long cOff = padded ? 21 : 0;
    try (Arena arena = Arena.ofShared()) {
      MemorySegment a = arena.allocate((aOff + (long) aRows * lda) * 4);
      MemorySegment b = arena.allocate((bOff + (long) bRows * ldb) * 4);
      MemorySegment c = arena.allocate((cOff + (long) m * ldc + 4) * 4);
      MemorySegment expected = arena.allocate(c.byteSize());
      MemorySegment original = arena.allocate(c.byteSize());
      randomFill(a, random);
      randomFill(b, random);
      randomFill(c, random);
      if (beta == 0f) {
        fill(c, Float.NaN);
      }
      MemorySegment.copy(c, 0, expected, 0, c.byteSize());
      MemorySegment.copy(c, 0, original, 0, c.byteSize());
      Gemm.sgemm(bl, p, tA, tB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
      Gemm.reference(tA, tB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, expected, cOff, ldc);
      String what =
          String.format(
              "%s tA=%b tB=%b m=%d n=%d k=%d alpha=%s beta=%s padded=%b threads=%d",
              bl, tA, tB, m, n, k, alpha, beta, padded, p.threads());
      long total = c.byteSize() / 4;
      for (long idx = 0; idx < total; idx++) {
        long rel = idx - cOff;
        boolean inside = rel >= 0 && rel / ldc < m && rel % ldc < n;
        float got = c.getAtIndex(F, idx);
        float want = expected.getAtIndex(F, idx);
        if (!inside) {
          assertThat(Float.floatToRawIntBits(got))
              .as("padding at %d: %s", idx, what)
              .isEqualTo(Float.floatToRawIntBits(want));
          continue;
        }
        int i = (int) (rel / ldc);
        int j = (int) (rel % ldc);
        // |error| <= (k + 2) * 1e-6 * (|alpha| sum |a||b| + |beta c|): a few times the worst-case
        // float rounding bound of either summation order, far below any indexing mistake.
        double scale = 0;
        for (int q = 0; q < k && alpha != 0f; q++) {
          float av = a.getAtIndex(F, aOff + (tA ? (long) q * lda + i : (long) i * lda + q));
          float bv = b.getAtIndex(F, bOff + (tB ? (long) j * ldb + q : (long) q * ldb + j));
          scale += Math.abs((double) av * bv);
        }
        scale *= Math.abs(alpha);
        if (beta != 0f) {
          scale += Math.abs(beta * original.getAtIndex(F, idx));
        }
        double tol = (k + 2) * 1e-6 * Math.max(scale, 1e-30);
        assertThat(Float.isFinite(got)).as("finite C[%d,%d]: %s", i, j, what).isTrue();
        assertThat((double) Math.abs(got - want))
            .as("C[%d,%d] got %s want %s: %s", i, j, got, want, what)
            .isLessThanOrEqualTo(tol);
      }
    }
  }

  private static void randomFill(MemorySegment s, Random random) {
    for (long i = 0; i < s.byteSize() / 4; i++) {
      s.setAtIndex(F, i, random.nextFloat() * 2f - 1f);
    }
  }

  private static void fill(MemorySegment s, float v) {
    for (long i = 0; i < s.byteSize() / 4; i++) {
      s.setAtIndex(F, i, v);
    }
  }
}
