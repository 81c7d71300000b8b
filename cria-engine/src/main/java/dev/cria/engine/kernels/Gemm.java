package dev.cria.engine.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM on off-heap memory, {@code C = alpha * op(A) * op(B) + beta * C}, written
 * in the BLIS style with the Vector API.
 *
 * <h2>Conventions</h2>
 *
 * All matrices are row-major, native-order {@code float}s in a {@link MemorySegment}, addressed by
 * an <b>element</b> offset ({@code long}: a 7B model has more than 2<sup>31</sup> floats, so every
 * address is computed as {@code offset + (long) row * ld + col} and only then scaled to bytes) and
 * a leading dimension (row stride in elements, {@code int}). {@code op(A)} is {@code m x k}, stored
 * as {@code m x k} ({@code lda >= k}) or, when {@code transA}, as {@code k x m} ({@code lda >= m});
 * likewise {@code op(B)} is {@code k x n}, stored {@code k x n} or {@code n x k}; {@code C} is
 * {@code m x n} ({@code ldc >= n}). As in BLAS, {@code beta == 0} never reads {@code C} (NaN
 * garbage is overwritten) and {@code alpha == 0} never reads {@code A} or {@code B}.
 *
 * <p>The three products of a linear layer map onto it as:
 *
 * <ul>
 *   <li>forward {@code Y[T,out] = X[T,in] W[out,in]^T}: {@code transB}, {@code beta = 0};
 *   <li>input gradient {@code dX[T,in] += dY[T,out] W[out,in]}: no transpose, {@code beta = 1};
 *   <li>weight gradient {@code dW[out,in] += dY[T,out]^T X[T,in]}: {@code transA}, {@code beta = 1}.
 * </ul>
 *
 * <h2>Algorithm</h2>
 *
 * The classic five loops around a register-blocked microkernel (Goto / BLIS):
 *
 * <pre>
 * for jc in n step NC                       B panel kc x nc: shared by all threads (L3)
 *   for pc in k step KC
 *     pack op(B)[pc:+kc, jc:+nc] into NR-wide slivers         (in parallel, all threads)
 *     each thread, on its own rectangle of C tiles (see grid below):
 *       for ic in its rows step MC          A block mc x kc: per thread (L2)
 *         pack op(A)[ic:+mc, pc:+kc] into MR-tall slivers
 *         for jr in its columns step NR     B sliver kc x NR stays in L1 across the ir loop
 *           for ir in ic:+mc step MR
 *             microkernel: C[ir:+MR, jr:+NR] (+)= A sliver * B sliver
 * </pre>
 *
 * <p>Packing copies each operand into contiguous, zero-padded slivers: an A sliver holds, for each
 * {@code p} in the k block, the {@code MR} values {@code op(A)[i..i+MR][p]}; a B sliver holds, for
 * each {@code p}, the {@code NR} values {@code op(B)[p][j..j+NR]}. The packing routines are where the
 * transposes are absorbed, so the one microkernel serves all four {@code trans} combinations. Zero
 * padding lets the microkernel always run full tiles. The microkernel leaves its tile in a small
 * per-thread buffer and a separate step applies {@code alpha}, {@code beta} and the edges of C
 * (vectors for full tiles, scalars for the ones that stick out): keeping C's addressing out of the
 * microkernel keeps its loop free of anything but the accumulators (measured: with the C update
 * inlined into the kernel it ran at 160 GFLOP/s, with it split out at 200, of a 223 peak).
 *
 * <p>The microkernel keeps an {@code MR x NR} tile of C in registers, {@code NR = 2L} where {@code
 * L} is the preferred vector length in floats: per k step it loads two vectors of B, broadcasts
 * {@code MR} scalars of A and issues {@code 2 MR} fused multiply-adds into independent
 * accumulators. With AVX-512 (32 vector registers, L = 16) the tile is 12 x 32: 24 accumulators +
 * 2 B vectors + 1 broadcast = 27 registers, 24 FMAs per 14 loads, enough independent chains to hide
 * the FMA latency on two FMA pipes. With narrower vectors (AVX2's 16 registers) it is 6 x 2L.
 *
 * <h2>Block sizes (this machine: Zen 5, 48 KiB L1d, 1 MiB L2, two 512-bit FMA pipes)</h2>
 *
 * <ul>
 *   <li>{@code KC = 256}: a B sliver is {@code KC * NR * 4 = 32 KiB}, two thirds of L1, leaving
 *       room for the A sliver being streamed ({@code 12 KiB}); long enough that the C update after
 *       the k loop (24 loads, FMAs and stores) is amortized over 6144 FMAs.
 *   <li>{@code MC = 240} (20 slivers): the packed A block is {@code 240 KiB}, a quarter of L2, so it
 *       survives the B slivers streaming through L2 on their way to L1.
 *   <li>{@code NC = 4096}: the shared B panel is {@code 4 MiB}, in L3; every thread reuses it.
 * </ul>
 *
 * <h2>Threads</h2>
 *
 * Each {@code (jc, pc)} block makes two fork-joins on the {@link Parallel} pool: packing the B
 * panel (slivers split among all threads), then the multiply, where the pool's threads form a
 * {@code tm x tn} grid over the block's tiles of C; the grid is chosen to minimize the largest
 * per-thread share, counting that splitting n makes each thread pack its rows of A again (so long
 * and thin problems split m, short and wide ones split n). Per-thread scratch (the A block, the
 * output tile) and the caller's B panel live in thread-locals, sized on first use and then reused.
 */
public final class Gemm {

  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  /** Floats per vector. */
  static final int L = S.length();
  /** Bytes per vector. */
  static final long LB = (long) L * Float.BYTES;
  /** The microkernel's tile width: two vectors. */
  static final int NR = 2 * L;

  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

  /** Block sizes; {@code mr} is 12 or 6 (the two microkernels), {@code mc} a multiple of it. */
  record Blocking(int mr, int kc, int mc, int nc) {
    Blocking {
      if (mr != 12 && mr != 6) {
        throw new IllegalArgumentException("mr must be 12 or 6: " + mr);
      }
      if (kc < 1 || mc < mr || mc % mr != 0 || nc < NR || nc % NR != 0) {
        throw new IllegalArgumentException("bad blocking " + kc + "/" + mc + "/" + nc);
      }
    }
  }

  /** The blocking used by {@link #sgemm}; see the class comment for how it was chosen. */
  static final Blocking DEFAULT =
      L >= 16 ? new Blocking(12, 256, 240, 4096) : new Blocking(6, 256, 240, 4096);

  private Gemm() {}

  /**
   * {@code C = alpha * op(A) * op(B) + beta * C} on the threads of {@code p}; see the class
   * comment for the layout conventions.
   *
   * @throws IllegalArgumentException if a size or leading dimension is negative or too small
   * @throws IndexOutOfBoundsException if a matrix does not fit in its segment
   */
  public static void sgemm(
      Parallel p,
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      MemorySegment a,
      long aOffset,
      int lda,
      MemorySegment b,
      long bOffset,
      int ldb,
      float beta,
      MemorySegment c,
      long cOffset,
      int ldc) {
    sgemm(DEFAULT, p, transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c,
        cOffset, ldc);
  }

  /** {@link #sgemm} with explicit block sizes (tests use tiny ones to exercise every loop). */
  static void sgemm(
      Blocking bl,
      Parallel p,
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      MemorySegment a,
      long aOffset,
      int lda,
      MemorySegment b,
      long bOffset,
      int ldb,
      float beta,
      MemorySegment c,
      long cOffset,
      int ldc) {
    checkArgs(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
    if (m == 0 || n == 0) {
      return;
    }
    if (alpha == 0f || k == 0) {
      scaleC(p, m, n, beta, c, cOffset, ldc);
      return;
    }
    new Job(bl, p, transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c,
            cOffset, ldc)
        .run();
  }

  /**
   * The reference: a plain triple loop, one dot product per element of C, accumulated in {@code
   * float} in increasing {@code k} order (exactly what a naive implementation computes, so it
   * carries the same kind of rounding error as the blocked kernel, which also accumulates in
   * float, in a different order). Then {@code C = alpha * sum + beta * C}, not reading C when
   * {@code beta == 0} and not reading A or B when {@code alpha == 0}. Single-threaded, slow: for
   * tests.
   */
  public static void reference(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      MemorySegment a,
      long aOffset,
      int lda,
      MemorySegment b,
      long bOffset,
      int ldb,
      float beta,
      MemorySegment c,
      long cOffset,
      int ldc) {
    checkArgs(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        float sum = 0f;
        if (alpha != 0f) {
          for (int q = 0; q < k; q++) {
            long ai = transA ? aOffset + (long) q * lda + i : aOffset + (long) i * lda + q;
            long bi = transB ? bOffset + (long) j * ldb + q : bOffset + (long) q * ldb + j;
            sum += a.getAtIndex(F, ai) * b.getAtIndex(F, bi);
          }
        }
        long ci = cOffset + (long) i * ldc + j;
        float v = alpha * sum;
        if (beta != 0f) {
          v += beta * c.getAtIndex(F, ci);
        }
        c.setAtIndex(F, ci, v);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Argument checks and the degenerate cases

  private static void checkArgs(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      MemorySegment a,
      long aOffset,
      int lda,
      MemorySegment b,
      long bOffset,
      int ldb,
      MemorySegment c,
      long cOffset,
      int ldc) {
    if (m < 0 || n < 0 || k < 0) {
      throw new IllegalArgumentException("negative size: m=" + m + " n=" + n + " k=" + k);
    }
    if (m == 0 || n == 0) {
      return;
    }
    checkMatrix("C", c, cOffset, m, n, ldc);
    if (alpha != 0f && k > 0) {
      if (transA) {
        checkMatrix("A", a, aOffset, k, m, lda);
      } else {
        checkMatrix("A", a, aOffset, m, k, lda);
      }
      if (transB) {
        checkMatrix("B", b, bOffset, n, k, ldb);
      } else {
        checkMatrix("B", b, bOffset, k, n, ldb);
      }
    }
  }

  /** Checks that a stored {@code rows x cols} matrix (row stride {@code ld}) fits its segment. */
  private static void checkMatrix(String name, MemorySegment s, long offset, int rows, int cols,
      int ld) {
    if (ld < Math.max(1, cols)) {
      throw new IllegalArgumentException(
          "ld" + name.toLowerCase(java.util.Locale.ROOT) + "=" + ld + " < " + cols);
    }
    long last = offset + (long) (rows - 1) * ld + cols; // one past the last element
    if (offset < 0 || last > s.byteSize() / Float.BYTES) {
      throw new IndexOutOfBoundsException(
          name + ": " + rows + "x" + cols + " (ld " + ld + ") at element offset " + offset
              + " does not fit a segment of " + s.byteSize() / Float.BYTES + " floats");
    }
  }

  /** {@code C = beta * C} (zero fill when {@code beta == 0}, nothing when {@code beta == 1}). */
  private static void scaleC(Parallel p, int m, int n, float beta, MemorySegment c, long cOffset,
      int ldc) {
    if (beta == 1f) {
      return;
    }
    p.forRange(0, m, (from, to, w) -> {
      for (int i = from; i < to; i++) {
        long row = cOffset + (long) i * ldc;
        if (beta == 0f) {
          c.asSlice(row * Float.BYTES, (long) n * Float.BYTES).fill((byte) 0);
        } else {
          for (int j = 0; j < n; j++) {
            c.setAtIndex(F, row + j, beta * c.getAtIndex(F, row + j));
          }
        }
      }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Per-thread scratch

  private static final class Scratch {
    float[] a = new float[0]; // packed A block, per thread
    float[] b = new float[0]; // packed B panel, owned by the thread that called sgemm
    final float[] tile = new float[12 * NR]; // the microkernel's output

    float[] a(int size) {
      if (a.length < size) {
        a = new float[size];
      }
      return a;
    }

    float[] b(int size) {
      if (b.length < size) {
        b = new float[size];
      }
      return b;
    }
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  // ---------------------------------------------------------------------------------------------
  // One call

  private static final class Job {
    final Parallel pool;
    final boolean transA;
    final boolean transB;
    final int m;
    final int n;
    final int k;
    final float alpha;
    final float beta;
    final MemorySegment a;
    final long aOffset;
    final int lda;
    final MemorySegment b;
    final long bOffset;
    final int ldb;
    final MemorySegment c;
    final long cOffset;
    final int ldc;
    final int mr;
    final int kc;
    final int mc;
    final int nc;
    final int mTiles;
    final float[] bp;
    final Parallel.RangeBody packB = this::packB;
    final Parallel.RangeBody multiply = this::multiply;

    // The current (jc, pc) block; written by the caller between fork-joins.
    int jc;
    int ncur;
    int nTiles;
    int pc;
    int kcur;
    float betaNow;
    int tm;
    int tn;

    Job(Blocking bl, Parallel pool, boolean transA, boolean transB, int m, int n, int k,
        float alpha, MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset,
        int ldb, float beta, MemorySegment c, long cOffset, int ldc) {
      this.pool = pool;
      this.transA = transA;
      this.transB = transB;
      this.m = m;
      this.n = n;
      this.k = k;
      this.alpha = alpha;
      this.beta = beta;
      this.a = a;
      this.aOffset = aOffset;
      this.lda = lda;
      this.b = b;
      this.bOffset = bOffset;
      this.ldb = ldb;
      this.c = c;
      this.cOffset = cOffset;
      this.ldc = ldc;
      this.mr = bl.mr();
      this.kc = Math.min(bl.kc(), k);
      this.mc = bl.mc();
      this.nc = Math.min(bl.nc(), roundUp(n, NR));
      this.mTiles = (m + mr - 1) / mr;
      this.bp = SCRATCH.get().b(kc * nc);
    }

    void run() {
      int threads = pool.threads();
      for (jc = 0; jc < n; jc += nc) {
        ncur = Math.min(nc, n - jc);
        nTiles = (ncur + NR - 1) / NR;
        chooseGrid(threads);
        for (pc = 0; pc < k; pc += kc) {
          kcur = Math.min(kc, k - pc);
          betaNow = pc == 0 ? beta : 1f;
          pool.forRange(0, nTiles, packB);
          if (threads == 1) {
            multiply(0, 1, 0);
          } else {
            pool.forRange(0, threads, multiply);
          }
        }
      }
    }

    /**
     * Picks the {@code tm x tn} thread grid over this block's {@code mTiles x nTiles} tiles that
     * minimizes the largest share, in units of one microkernel call, counting one more unit per
     * row tile for packing that thread's A rows (its cost is close to one microkernel call's).
     */
    private void chooseGrid(int threads) {
      long best = Long.MAX_VALUE;
      for (int cand = threads; cand >= 1; cand--) {
        if (threads % cand != 0) {
          continue;
        }
        int rows = (mTiles + cand - 1) / cand;
        int cols = (nTiles + threads / cand - 1) / (threads / cand);
        long cost = (long) rows * (cols + 1);
        if (cost < best) {
          best = cost;
          tm = cand;
          tn = threads / cand;
        }
      }
    }

    /** Packs B slivers {@code [t0, t1)} of the current block into the shared panel. */
    private void packB(int t0, int t1, int worker) {
      for (int t = t0; t < t1; t++) {
        int j0 = jc + t * NR;
        int cols = Math.min(NR, jc + ncur - j0);
        int dst = t * NR * kcur;
        if (transB) {
          packTransposed(b, bOffset + (long) j0 * ldb + pc, ldb, cols, kcur, bp, dst, NR);
        } else {
          packStraight(b, bOffset + (long) pc * ldb + j0, ldb, cols, kcur, bp, dst, NR);
        }
      }
    }

    /** Packs the A slivers of rows {@code [i0, i0 + rows)} of the current k block into {@code ap}. */
    private void packA(float[] ap, int i0, int rows) {
      for (int s = 0; s * mr < rows; s++) {
        int r0 = i0 + s * mr;
        int cnt = Math.min(mr, i0 + rows - r0);
        int dst = s * mr * kcur;
        if (transA) {
          packStraight(a, aOffset + (long) pc * lda + r0, lda, cnt, kcur, ap, dst, mr);
        } else {
          packTransposed(a, aOffset + (long) r0 * lda + pc, lda, cnt, kcur, ap, dst, mr);
        }
      }
    }

    /** Grid cells {@code [from, to)} (one per thread, unless run nested and serially). */
    private void multiply(int from, int to, int worker) {
      for (int w = from; w < to; w++) {
        multiplyCell(w);
      }
    }

    /** Cell {@code w} of the thread grid: a rectangle of the current block's tiles of C. */
    private void multiplyCell(int w) {
      int wm = w / tn;
      int wn = w % tn;
      int mt0 = split(mTiles, tm, wm);
      int mt1 = split(mTiles, tm, wm + 1);
      int nt0 = split(nTiles, tn, wn);
      int nt1 = split(nTiles, tn, wn + 1);
      if (mt0 >= mt1 || nt0 >= nt1) {
        return;
      }
      Scratch s = SCRATCH.get();
      float[] ap = s.a(mc * kcur);
      float[] tile = s.tile;
      int mcTiles = mc / mr;
      for (int it = mt0; it < mt1; it += mcTiles) {
        int i0 = it * mr;
        int rows = Math.min(Math.min(it + mcTiles, mt1) * mr, m) - i0;
        packA(ap, i0, rows);
        for (int jt = nt0; jt < nt1; jt++) {
          int j0 = jt * NR;
          int cols = Math.min(NR, ncur - j0);
          int bi = jt * NR * kcur;
          for (int ir = 0; ir < rows; ir += mr) {
            int mrCur = Math.min(mr, rows - ir);
            long cIdx = cOffset + (long) (i0 + ir) * ldc + jc + j0;
            int ai = ir * kcur;
            if (mr == 12) {
              kernel12(kcur, ap, ai, bp, bi, tile);
            } else {
              kernel6(kcur, ap, ai, bp, bi, tile);
            }
            updateTile(tile, mr, c, cIdx, ldc, mrCur, cols, alpha, betaNow);
          }
        }
      }
    }
  }

  /** Boundary {@code i} of {@code parts} near-equal contiguous parts of {@code total}. */
  private static int split(int total, int parts, int i) {
    return (int) ((long) total * i / parts);
  }

  private static int roundUp(int x, int to) {
    return (x + to - 1) / to * to;
  }

  // ---------------------------------------------------------------------------------------------
  // Packing

  /**
   * Packs {@code cnt <= width} rows of a stored matrix, each {@code kcur} long (source element
   * {@code (r, q)} at {@code src + r * ld + q}), transposed into a sliver: {@code dst[off + q * width
   * + r]}, zero for {@code r >= cnt}.
   */
  static void packTransposed(MemorySegment s, long src, int ld, int cnt, int kcur, float[] dst,
      int off, int width) {
    for (int r = 0; r < cnt; r++) {
      long row = src + (long) r * ld;
      int d = off + r;
      for (int q = 0; q < kcur; q++) {
        dst[d + q * width] = s.getAtIndex(F, row + q);
      }
    }
    for (int r = cnt; r < width; r++) {
      for (int q = 0; q < kcur; q++) {
        dst[off + q * width + r] = 0f;
      }
    }
  }

  /**
   * Packs {@code kcur} rows of {@code cnt <= width} contiguous elements (row {@code q} at {@code
   * src + q * ld}) into a sliver: {@code dst[off + q * width + r]}, zero for {@code r >= cnt}.
   */
  static void packStraight(MemorySegment s, long src, int ld, int cnt, int kcur, float[] dst,
      int off, int width) {
    if (width == 2 * L) {
      VectorMask<Float> m0 = S.indexInRange(0, cnt);
      VectorMask<Float> m1 = S.indexInRange(L, cnt);
      boolean full = cnt == width;
      for (int q = 0; q < kcur; q++) {
        long o = (src + (long) q * ld) * Float.BYTES;
        int d = off + q * width;
        if (full) {
          FloatVector.fromMemorySegment(S, s, o, NATIVE).intoArray(dst, d);
          FloatVector.fromMemorySegment(S, s, o + LB, NATIVE).intoArray(dst, d + L);
        } else {
          FloatVector.fromMemorySegment(S, s, o, NATIVE, m0).intoArray(dst, d);
          FloatVector.fromMemorySegment(S, s, o + LB, NATIVE, m1).intoArray(dst, d + L);
        }
      }
    } else if (width <= L) {
      VectorMask<Float> mw = S.indexInRange(0, width);
      VectorMask<Float> mc = S.indexInRange(0, cnt);
      for (int q = 0; q < kcur; q++) {
        long o = (src + (long) q * ld) * Float.BYTES;
        FloatVector.fromMemorySegment(S, s, o, NATIVE, mc).intoArray(dst, off + q * width, mw);
      }
    } else {
      for (int q = 0; q < kcur; q++) {
        long row = src + (long) q * ld;
        int d = off + q * width;
        for (int r = 0; r < cnt; r++) {
          dst[d + r] = s.getAtIndex(F, row + r);
        }
        for (int r = cnt; r < width; r++) {
          dst[d + r] = 0f;
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The microkernels and their C updates

  /**
   * {@code C[rows x cols] = alpha * tile + beta * C} for one tile at element {@code cIdx} of C (not
   * reading C when {@code beta == 0}); vectors for full tiles, scalars at the edges of C.
   */
  static void updateTile(float[] tile, int mr, MemorySegment c, long cIdx, int ldc, int rows,
      int cols, float alpha, float beta) {
    if (rows == mr && cols == NR) {
      FloatVector av = FloatVector.broadcast(S, alpha);
      long o = cIdx * Float.BYTES;
      long ld = (long) ldc * Float.BYTES;
      for (int r = 0; r < mr; r++, o += ld) {
        FloatVector t0 = FloatVector.fromArray(S, tile, r * NR);
        FloatVector t1 = FloatVector.fromArray(S, tile, r * NR + L);
        if (beta == 0f) {
          t0.mul(av).intoMemorySegment(c, o, NATIVE);
          t1.mul(av).intoMemorySegment(c, o + LB, NATIVE);
        } else {
          FloatVector c0 = FloatVector.fromMemorySegment(S, c, o, NATIVE);
          FloatVector c1 = FloatVector.fromMemorySegment(S, c, o + LB, NATIVE);
          if (beta != 1f) {
            c0 = c0.mul(beta);
            c1 = c1.mul(beta);
          }
          t0.fma(av, c0).intoMemorySegment(c, o, NATIVE);
          t1.fma(av, c1).intoMemorySegment(c, o + LB, NATIVE);
        }
      }
      return;
    }
    for (int r = 0; r < rows; r++) {
      long row = cIdx + (long) r * ldc;
      for (int j = 0; j < cols; j++) {
        float v = alpha * tile[r * NR + j];
        if (beta != 0f) {
          v = Math.fma(beta, c.getAtIndex(F, row + j), v);
        }
        c.setAtIndex(F, row + j, v);
      }
    }
  }

  /**
   * The 12 x 2L microkernel: {@code tile = A sliver * B sliver} over {@code kc} steps, written
   * to {@code tile} (12 rows of {@code NR}). Its only live values in the loop are the 24
   * accumulators, two B vectors, one broadcast and the two indices, so nothing spills.
   */
  static void kernel12(int kc, float[] ap, int ai, float[] bp, int bi, float[] tile) {
    FloatVector c0a = FloatVector.zero(S);
    FloatVector c0b = FloatVector.zero(S);
    FloatVector c1a = FloatVector.zero(S);
    FloatVector c1b = FloatVector.zero(S);
    FloatVector c2a = FloatVector.zero(S);
    FloatVector c2b = FloatVector.zero(S);
    FloatVector c3a = FloatVector.zero(S);
    FloatVector c3b = FloatVector.zero(S);
    FloatVector c4a = FloatVector.zero(S);
    FloatVector c4b = FloatVector.zero(S);
    FloatVector c5a = FloatVector.zero(S);
    FloatVector c5b = FloatVector.zero(S);
    FloatVector c6a = FloatVector.zero(S);
    FloatVector c6b = FloatVector.zero(S);
    FloatVector c7a = FloatVector.zero(S);
    FloatVector c7b = FloatVector.zero(S);
    FloatVector c8a = FloatVector.zero(S);
    FloatVector c8b = FloatVector.zero(S);
    FloatVector c9a = FloatVector.zero(S);
    FloatVector c9b = FloatVector.zero(S);
    FloatVector c10a = FloatVector.zero(S);
    FloatVector c10b = FloatVector.zero(S);
    FloatVector c11a = FloatVector.zero(S);
    FloatVector c11b = FloatVector.zero(S);
    for (int p = 0; p < kc; p++) {
      FloatVector b0 = FloatVector.fromArray(S, bp, bi);
      FloatVector b1 = FloatVector.fromArray(S, bp, bi + L);
      FloatVector a;
      a = FloatVector.broadcast(S, ap[ai]);
      c0a = a.fma(b0, c0a);
      c0b = a.fma(b1, c0b);
      a = FloatVector.broadcast(S, ap[ai + 1]);
      c1a = a.fma(b0, c1a);
      c1b = a.fma(b1, c1b);
      a = FloatVector.broadcast(S, ap[ai + 2]);
      c2a = a.fma(b0, c2a);
      c2b = a.fma(b1, c2b);
      a = FloatVector.broadcast(S, ap[ai + 3]);
      c3a = a.fma(b0, c3a);
      c3b = a.fma(b1, c3b);
      a = FloatVector.broadcast(S, ap[ai + 4]);
      c4a = a.fma(b0, c4a);
      c4b = a.fma(b1, c4b);
      a = FloatVector.broadcast(S, ap[ai + 5]);
      c5a = a.fma(b0, c5a);
      c5b = a.fma(b1, c5b);
      a = FloatVector.broadcast(S, ap[ai + 6]);
      c6a = a.fma(b0, c6a);
      c6b = a.fma(b1, c6b);
      a = FloatVector.broadcast(S, ap[ai + 7]);
      c7a = a.fma(b0, c7a);
      c7b = a.fma(b1, c7b);
      a = FloatVector.broadcast(S, ap[ai + 8]);
      c8a = a.fma(b0, c8a);
      c8b = a.fma(b1, c8b);
      a = FloatVector.broadcast(S, ap[ai + 9]);
      c9a = a.fma(b0, c9a);
      c9b = a.fma(b1, c9b);
      a = FloatVector.broadcast(S, ap[ai + 10]);
      c10a = a.fma(b0, c10a);
      c10b = a.fma(b1, c10b);
      a = FloatVector.broadcast(S, ap[ai + 11]);
      c11a = a.fma(b0, c11a);
      c11b = a.fma(b1, c11b);
      ai += 12;
      bi += NR;
    }
    c0a.intoArray(tile, 0 * NR);
    c0b.intoArray(tile, 0 * NR + L);
    c1a.intoArray(tile, 1 * NR);
    c1b.intoArray(tile, 1 * NR + L);
    c2a.intoArray(tile, 2 * NR);
    c2b.intoArray(tile, 2 * NR + L);
    c3a.intoArray(tile, 3 * NR);
    c3b.intoArray(tile, 3 * NR + L);
    c4a.intoArray(tile, 4 * NR);
    c4b.intoArray(tile, 4 * NR + L);
    c5a.intoArray(tile, 5 * NR);
    c5b.intoArray(tile, 5 * NR + L);
    c6a.intoArray(tile, 6 * NR);
    c6b.intoArray(tile, 6 * NR + L);
    c7a.intoArray(tile, 7 * NR);
    c7b.intoArray(tile, 7 * NR + L);
    c8a.intoArray(tile, 8 * NR);
    c8b.intoArray(tile, 8 * NR + L);
    c9a.intoArray(tile, 9 * NR);
    c9b.intoArray(tile, 9 * NR + L);
    c10a.intoArray(tile, 10 * NR);
    c10b.intoArray(tile, 10 * NR + L);
    c11a.intoArray(tile, 11 * NR);
    c11b.intoArray(tile, 11 * NR + L);
  }

  /**
   * The 6 x 2L microkernel: {@code tile = A sliver * B sliver} over {@code kc} steps, written
   * to {@code tile} (6 rows of {@code NR}). Its only live values in the loop are the 12
   * accumulators, two B vectors, one broadcast and the two indices, so nothing spills.
   */
  static void kernel6(int kc, float[] ap, int ai, float[] bp, int bi, float[] tile) {
    FloatVector c0a = FloatVector.zero(S);
    FloatVector c0b = FloatVector.zero(S);
    FloatVector c1a = FloatVector.zero(S);
    FloatVector c1b = FloatVector.zero(S);
    FloatVector c2a = FloatVector.zero(S);
    FloatVector c2b = FloatVector.zero(S);
    FloatVector c3a = FloatVector.zero(S);
    FloatVector c3b = FloatVector.zero(S);
    FloatVector c4a = FloatVector.zero(S);
    FloatVector c4b = FloatVector.zero(S);
    FloatVector c5a = FloatVector.zero(S);
    FloatVector c5b = FloatVector.zero(S);
    for (int p = 0; p < kc; p++) {
      FloatVector b0 = FloatVector.fromArray(S, bp, bi);
      FloatVector b1 = FloatVector.fromArray(S, bp, bi + L);
      FloatVector a;
      a = FloatVector.broadcast(S, ap[ai]);
      c0a = a.fma(b0, c0a);
      c0b = a.fma(b1, c0b);
      a = FloatVector.broadcast(S, ap[ai + 1]);
      c1a = a.fma(b0, c1a);
      c1b = a.fma(b1, c1b);
      a = FloatVector.broadcast(S, ap[ai + 2]);
      c2a = a.fma(b0, c2a);
      c2b = a.fma(b1, c2b);
      a = FloatVector.broadcast(S, ap[ai + 3]);
      c3a = a.fma(b0, c3a);
      c3b = a.fma(b1, c3b);
      a = FloatVector.broadcast(S, ap[ai + 4]);
      c4a = a.fma(b0, c4a);
      c4b = a.fma(b1, c4b);
      a = FloatVector.broadcast(S, ap[ai + 5]);
      c5a = a.fma(b0, c5a);
      c5b = a.fma(b1, c5b);
      ai += 6;
      bi += NR;
    }
    c0a.intoArray(tile, 0 * NR);
    c0b.intoArray(tile, 0 * NR + L);
    c1a.intoArray(tile, 1 * NR);
    c1b.intoArray(tile, 1 * NR + L);
    c2a.intoArray(tile, 2 * NR);
    c2b.intoArray(tile, 2 * NR + L);
    c3a.intoArray(tile, 3 * NR);
    c3b.intoArray(tile, 3 * NR + L);
    c4a.intoArray(tile, 4 * NR);
    c4b.intoArray(tile, 4 * NR + L);
    c5a.intoArray(tile, 5 * NR);
    c5b.intoArray(tile, 5 * NR + L);
  }
}
