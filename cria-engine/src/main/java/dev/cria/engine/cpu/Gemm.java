package dev.cria.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicIntegerArray;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM on off-heap memory, {@code C = alpha * op(A) * op(B) + beta * C}, written
 * in the BLIS style with the Vector API.
 *
 * <p>This file is long because it is one algorithm: the packing routines, the macro-kernel and the
 * register-blocked microkernels (written out per tile shape, as BLIS does) only make sense
 * together, and splitting them would expose their shared tile constants and scratch layout.
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
 * garbage is overwritten) and {@code alpha == 0} never reads {@code A} or {@code B}. With a pool of
 * more than one thread the segments must be accessible from every thread (a shared, global or
 * automatic arena; a confined segment is rejected up front). Results do not depend on the number of
 * threads: every element of C is summed by one thread, in the same order.
 *
 * <p>The three products of a linear layer map onto it as:
 *
 * <ul>
 *   <li>forward {@code Y[T,out] = X[T,in] W[out,in]^T}: {@code transB}, {@code beta = 0};
 *   <li>input gradient {@code dX[T,in] += dY[T,out] W[out,in]}: no transpose, {@code beta = 1};
 *   <li>weight gradient {@code dW[out,in] += dY[T,out]^T X[T,in]}: {@code transA}, {@code beta =
 *       1}.
 * </ul>
 *
 * <h2>Algorithm</h2>
 *
 * The classic loops around a register-blocked microkernel (Goto / BLIS):
 *
 * <pre>
 * for jc in n step NC                       B panel kc x nc, shared by all threads
 *   for pc in k step KC                     one fork-join per (jc, pc) block
 *     each thread, on its own rectangle of C's tiles (the grid, below):
 *       for ic in its rows step MC          A block mc x kc: packed per thread, stays in L2
 *         pack op(A)[ic:+mc, pc:+kc]
 *         for jr in its columns step NR     B sliver kc x NR: packed on first use, shared
 *           for ir in ic:+mc step MR
 *             microkernel: tile = A rows * B sliver; then C[ir:+MR, jr:+NR] = alpha tile + beta C
 * </pre>
 *
 * <p><b>The microkernel</b> keeps an {@code MR x NR} tile of C in registers, {@code NR = 2L} where
 * {@code L} is the preferred vector length in floats: per k step it loads two vectors of B,
 * broadcasts {@code MR} scalars of A and issues {@code 2 MR} fused multiply-adds into independent
 * accumulators. With AVX-512 (32 vector registers, L = 16) the tile is 12 x 32: 24 accumulators + 2
 * B vectors + 1 broadcast = 27 registers, 24 FMAs per 14 loads, enough independent chains to hide
 * the FMA latency on two FMA pipes (measured alone, on data in cache: 205-213 GFLOP/s of the 223
 * FMA peak of one core here). With narrower vectors (AVX2's 16 registers) it is 6 x 2L. The
 * microkernel leaves its tile in a small per-thread array and {@link #updateTile} then applies
 * {@code alpha}, {@code beta} and the edges of C (vectors for full tiles, scalars for those that
 * stick out): with the C update inside, the microkernel kept more values live across its loop and
 * ran at 160 instead of 200 GFLOP/s.
 *
 * <p><b>Packing</b> copies the operands into arrays laid out for the microkernel, absorbing the
 * transposes, so one microkernel loop serves all four {@code trans} combinations. B slivers hold,
 * for each {@code p}, the {@code NR} values {@code op(B)[p][j..j+NR]} (stored B: two vector copies
 * per row; transposed B: a scalar transpose of staged rows; B is packed once per call and shared,
 * so this is a small part of the work). A as stored (k contiguous) is not rearranged at all, only
 * copied row by row: the "R" microkernels broadcast from {@code MR} rows at the constant stride
 * {@link #AS}, as a broadcast can read from anywhere (the textbook transposing pack into k-major
 * slivers cost 10% of the multiply). Transposed A (m contiguous) is packed into k-major slivers,
 * {@code MR} values per k, for the "K" microkernels: one bulk copy per stored row and one vector
 * move per sliver. The source is read only by bulk copies or vector loads, as element-wise segment
 * reads cost several times more. Packed buffers are zero-padded to whole tiles.
 *
 * <h2>Block sizes (this machine: Zen 5, 48 KiB L1d, 1 MiB L2 per core, two 512-bit FMA pipes)</h2>
 *
 * <ul>
 *   <li>{@code KC = 512}: a B sliver is {@code 512 * 32 * 4 = 64 KiB}, more than L1, but the loop
 *       needs only 176 bytes per 12 cycles from L2 (measured no slower than KC = 256 on cached
 *       data), while a longer k block halves the passes over C (each a read and write of C) and the
 *       fork-joins. Measured on the training shapes: 512 beat 384 by 3-10% and 256 by 5-15%.
 *   <li>{@code MC = 132} (11 tiles): the A block is {@code 132 * 528 * 4 = 279 KiB}, about a
 *       quarter of L2, leaving room for the B sliver in use and C's tiles; 96 to 240 measured
 *       within noise on the 512-wide layers, the smaller sizes slightly better on the weight
 *       gradient.
 *   <li>{@code NC = 1024}: the shared B panel is {@code 2 MiB}, which stays in the (shared, L3)
 *       cache; on the LM head (n = 32000) 1024 and 2048 measured alike and 4096 (8 MiB) 10% slower.
 * </ul>
 *
 * <h2>Threads</h2>
 *
 * Each {@code (jc, pc)} block is one fork-join on the {@link Parallel} pool. Its threads form a
 * {@code tm x tn} grid over the block's tiles of C, chosen to minimize the largest per-thread share
 * (counting that splitting n makes each thread pack its rows of A again), so tall problems split m
 * and short wide ones split n. The shared B panel is packed lazily: the first thread to need a
 * sliver packs it while the others compute, and threads that share columns start their column loops
 * at different slivers so they pack different ones (a separate packing phase was memory-bound, did
 * not get faster with two threads, and cost 11% of the weight gradient). Per-thread scratch (the A
 * block, the staging rows, the output tile) and the caller's B panel live in thread-locals, sized
 * on first use and then reused: about 2.5 MiB per thread.
 */
public final class Gemm {

  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  /** Floats per vector. */
  static final int L = S.length();

  /** Bytes per vector. */
  static final long LB = (long) L * Float.BYTES;

  /** The microkernel's tile width: two vectors. */
  static final int NR = 2 * L;

  /** The largest k block. */
  static final int KC_MAX = 512;

  /**
   * Row stride of a packed block of untransposed A, a constant so the "R" microkernels address
   * their rows with immediate offsets; 16 floats past {@code KC_MAX} so that the rows of a sliver
   * do not all fall into the same L1 set.
   */
  static final int AS = KC_MAX + 16;

  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

  /**
   * Block sizes; {@code mr} is 12 or 6 (the two microkernels), {@code mc} a multiple of it; {@code
   * gridRows} the rows of the thread grid ({@code 0}: chosen per block, see {@code chooseGrid}).
   * Every blocking with the same {@code kc} computes the same bits: only {@code kc} decides where a
   * dot product is split and added to C.
   */
  record Blocking(int mr, int kc, int mc, int nc, int gridRows) {
    private static final java.util.regex.Pattern TEXT =
        java.util.regex.Pattern.compile(
            "mr=(\\d{1,3}) mc=(\\d{1,5}) nc=(\\d{1,6}) grid=(auto|(\\d{1,4})x(\\d{1,4}))");

    Blocking {
      if (mr != 12 && mr != 6) {
        throw new IllegalArgumentException("mr must be 12 or 6: " + mr);
      }
      if (kc < 1 || kc > KC_MAX || mc < mr || mc % mr != 0 || nc < NR || nc % NR != 0) {
        throw new IllegalArgumentException("bad blocking " + kc + "/" + mc + "/" + nc);
      }
      if (gridRows < 0) {
        throw new IllegalArgumentException("grid rows must be 0 (auto) or more: " + gridRows);
      }
    }

    Blocking(int mr, int kc, int mc, int nc) {
      this(mr, kc, mc, nc, 0);
    }

    /** This blocking with a thread grid of {@code rows} rows (0: chosen per block). */
    Blocking withGridRows(int rows) {
      return new Blocking(mr, kc, mc, nc, rows);
    }

    /**
     * The tunable part as text for {@code threads} threads, {@code mr=12 mc=132 nc=1024 grid=2x1};
     * {@code kc} is always {@link #KC_MAX} there, as it fixes the results.
     */
    String describe(int threads) {
      String grid = gridRows == 0 ? "auto" : gridRows + "x" + threads / gridRows;
      return "mr=" + mr + " mc=" + mc + " nc=" + nc + " grid=" + grid;
    }

    /**
     * The blocking {@link #describe} wrote, for {@code threads} threads and this machine's vectors.
     *
     * @throws IllegalArgumentException when the text is not one, its microkernel does not exist
     *     here, or its grid is not for {@code threads} threads
     */
    static Blocking parse(String text, int threads) {
      java.util.regex.Matcher x = TEXT.matcher(text == null ? "" : text.strip());
      if (!x.matches()) {
        throw new IllegalArgumentException(
            "not a cpu GEMM blocking (e.g. mr=12 mc=132 nc=1024 grid=auto): '" + text + "'");
      }
      int mr = Integer.parseInt(x.group(1));
      if (mr == 12 && L < 16) {
        throw new IllegalArgumentException(
            "'" + text + "' needs 32 vector registers (AVX-512); this machine has " + S);
      }
      int rows = 0;
      if (x.group(5) != null) {
        rows = Integer.parseInt(x.group(5));
        int cols = Integer.parseInt(x.group(6));
        if (rows < 1 || cols < 1 || (long) rows * cols != threads) {
          throw new IllegalArgumentException(
              "'" + text + "': its thread grid is not for " + threads + " thread(s)");
        }
      }
      return new Blocking(
          mr, KC_MAX, Integer.parseInt(x.group(2)), Integer.parseInt(x.group(3)), rows);
    }
  }

  /** The blocking used by {@link #sgemm}; see the class comment for how it was chosen. */
  static final Blocking DEFAULT = new Blocking(L >= 16 ? 12 : 6, 512, 132, 1024);

  private Gemm() {}

  /**
   * {@code C = alpha * op(A) * op(B) + beta * C} on the threads of {@code p}; see the class comment
   * for the layout conventions.
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
    sgemm(
        DEFAULT, p, transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c,
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
    if (p.threads() > 1) {
      checkShared("C", c);
      if (alpha != 0f && k > 0) {
        checkShared("A", a);
        checkShared("B", b);
      }
    }
    if (alpha == 0f || k == 0) {
      scaleC(p, m, n, beta, c, cOffset, ldc);
      return;
    }
    new Job(
            bl, p, transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c,
            cOffset, ldc)
        .run();
  }

  /**
   * The reference: a plain triple loop, one dot product per element of C, accumulated in {@code
   * float} in increasing {@code k} order (exactly what a naive implementation computes, so it
   * carries the same kind of rounding error as the blocked kernel, which also accumulates in float,
   * in a different order). Then {@code C = alpha * sum + beta * C}, not reading C when {@code beta
   * == 0} and not reading A or B when {@code alpha == 0}. Single-threaded, slow: for tests.
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
  private static void checkMatrix(
      String name, MemorySegment s, long offset, int rows, int cols, int ld) {
    if (ld < Math.max(1, cols)) {
      throw new IllegalArgumentException(
          "ld" + name.toLowerCase(java.util.Locale.ROOT) + "=" + ld + " < " + cols);
    }
    long size = s.byteSize() / Float.BYTES;
    long extent = (long) (rows - 1) * ld + cols; // < 2^62: no overflow
    if (offset < 0 || offset > size || extent > size - offset) {
      throw new IndexOutOfBoundsException(
          name
              + ": "
              + rows
              + "x"
              + cols
              + " (ld "
              + ld
              + ") at element offset "
              + offset
              + " does not fit a segment of "
              + s.byteSize() / Float.BYTES
              + " floats");
    }
  }

  /** An unstarted thread: a segment it may access is not confined to one thread. */
  private static final Thread ANOTHER_THREAD = new Thread(() -> {}, "cria-gemm-probe");

  private static void checkShared(String name, MemorySegment s) {
    if (!s.isAccessibleBy(ANOTHER_THREAD)) {
      throw new IllegalArgumentException(
          name
              + " is confined to one thread; a multi-threaded sgemm needs segments from a shared"
              + " (or global, or automatic) arena");
    }
  }

  /** {@code C = beta * C} (zero fill when {@code beta == 0}, nothing when {@code beta == 1}). */
  private static void scaleC(
      Parallel p, int m, int n, float beta, MemorySegment c, long cOffset, int ldc) {
    if (beta == 1f) {
      return;
    }
    p.forRange(
        0,
        m,
        (from, to, w) -> {
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
    float[] stage = new float[0]; // rows of A or B on their way into a packed buffer
    final float[] tile = new float[12 * NR]; // the microkernel's output

    float[] a(int size) {
      if (a.length < size) {
        a = new float[size];
      }
      return a;
    }

    float[] stage(int size) {
      if (stage.length < size) {
        stage = new float[size];
      }
      return stage;
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
    final int gridRows;
    final int mTiles;
    final float[] bp;
    final Parallel.RangeBody multiply = this::multiply;

    // Sliver t of the shared B panel holds the current block once bReady[t] == generation; the
    // first thread to need it claims it (bClaimed[t] = generation) and packs it, others wait.
    final AtomicIntegerArray bReady;
    final AtomicIntegerArray bClaimed;
    int generation;
    volatile boolean bFailed;

    // The current (jc, pc) block; written by the caller between fork-joins.
    int jc;
    int ncur;
    int nTiles;
    int pc;
    int kcur;
    float betaNow;
    int tm;
    int tn;

    Job(
        Blocking bl,
        Parallel pool,
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
      this.gridRows = bl.gridRows();
      this.mTiles = (m + mr - 1) / mr;
      this.bp = SCRATCH.get().b(nc / NR * bSliver(kc));
      this.bReady = new AtomicIntegerArray(nc / NR);
      this.bClaimed = new AtomicIntegerArray(nc / NR);
    }

    void run() {
      int threads = pool.threads();
      for (jc = 0; jc < n; jc += nc) {
        ncur = Math.min(nc, n - jc);
        nTiles = (ncur + NR - 1) / NR;
        if (gridRows > 0 && threads % gridRows == 0) {
          tm = gridRows;
          tn = threads / gridRows;
        } else {
          chooseGrid(threads);
        }
        for (pc = 0; pc < k; pc += kc) {
          kcur = Math.min(kc, k - pc);
          betaNow = pc == 0 ? beta : 1f;
          generation++;
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
     * minimizes the largest share, in units of one microkernel call, counting one more unit per row
     * tile for packing that thread's rows of A (a pessimistic price, so that n is split only when m
     * is too short to go round).
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

    /**
     * Makes sure B sliver {@code t} of the current block is packed: packs it if no other thread has
     * claimed it, else waits for the thread that did. Threads that share slivers start their column
     * loops at different slivers, so they mostly pack different ones, each while the other
     * computes.
     */
    private void ensureB(int t, float[] stage) {
      int g = generation;
      if (bReady.get(t) == g) {
        return;
      }
      int claimed = bClaimed.get(t);
      if (claimed != g && bClaimed.compareAndSet(t, claimed, g)) {
        try {
          packBSliver(t, stage);
        } catch (RuntimeException | Error e) {
          bFailed = true;
          throw e;
        }
        bReady.set(t, g);
        return;
      }
      for (int spins = 0; bReady.get(t) != g; spins++) {
        if (bFailed) {
          throw new IllegalStateException("packing B failed on another thread");
        }
        if (spins < Parallel.SPIN_BEFORE_YIELD) {
          Thread.onSpinWait();
        } else {
          Thread.yield(); // the packing thread may be waiting for a core
        }
      }
    }

    private void packBSliver(int t, float[] stage) {
      int j0 = jc + t * NR;
      int cols = Math.min(NR, jc + ncur - j0);
      int dst = t * bSliver(kcur);
      if (transB) {
        packBTransposed(b, bOffset + (long) j0 * ldb + pc, ldb, cols, kcur, bp, dst, stage);
      } else {
        packBStraight(b, bOffset + (long) pc * ldb + j0, ldb, cols, kcur, bp, dst);
      }
    }

    /**
     * Packs rows {@code [i0, i0 + rows)} of op(A), current k block: transposed A into k-major
     * slivers, A as stored into plain rows (see the "K" and "R" microkernels).
     */
    private void packA(float[] ap, float[] stage, int i0, int rows) {
      if (transA) {
        packASlivers(a, aOffset + (long) pc * lda + i0, lda, rows, mr, kcur, ap, stage);
      } else {
        packARows(a, aOffset + (long) i0 * lda + pc, lda, rows, roundUp(rows, mr), kcur, ap);
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
      float[] ap = s.a(transA ? mc / mr * aSliver(mr, kcur) : mc * AS);
      int aStride = transA ? aSliver(mr, kcur) : mr * AS;
      int bStride = bSliver(kcur);
      float[] tile = s.tile;
      float[] stage = s.stage(Math.max(mc + 2 * L, transB ? L * (kcur + L) : 0));
      int nLen = nt1 - nt0;
      int nStart = (int) ((long) nLen * wm / tm); // threads sharing columns start apart
      int mcTiles = mc / mr;
      for (int it = mt0; it < mt1; it += mcTiles) {
        int i0 = it * mr;
        int rows = Math.min(Math.min(it + mcTiles, mt1) * mr, m) - i0;
        packA(ap, stage, i0, rows);
        for (int x = 0; x < nLen; x++) {
          int jt = nt0 + (nStart + x) % nLen;
          ensureB(jt, stage);
          int j0 = jt * NR;
          int cols = Math.min(NR, ncur - j0);
          int bi = jt * bStride;
          for (int ir = 0, ai = 0; ir < rows; ir += mr, ai += aStride) {
            int mrCur = Math.min(mr, rows - ir);
            long cIdx = cOffset + (long) (i0 + ir) * ldc + jc + j0;
            if (transA) {
              if (mr == 12) {
                kernel12K(kcur, ap, ai, mr, bp, bi, tile);
              } else {
                kernel6K(kcur, ap, ai, mr, bp, bi, tile);
              }
            } else if (mr == 12) {
              kernel12R(kcur, ap, ai, bp, bi, tile);
            } else {
              kernel6R(kcur, ap, ai, bp, bi, tile);
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

  // The packing routines read the source matrices only with bulk MemorySegment.copy calls (into the
  // packed buffer or a per-thread staging array, rearranged from there with array accesses) or
  // vector loads: element-wise segment accesses cost several times more.
  // Packed slivers, rows and staged rows are L floats (64 bytes) longer than their contents: with
  // blocks of a power of two, their plain size is a multiple of 4 KiB, so a loop touching the same
  // offset of 16 of them would hit one L1 set 16 times and thrash it.

  /** Floats from one B sliver to the next in the packed panel. */
  static int bSliver(int kcur) {
    return NR * kcur + L;
  }

  /** Floats from one sliver of transposed A to the next in a packed block. */
  static int aSliver(int mr, int kcur) {
    return mr * kcur + L;
  }

  /**
   * Packs B's sliver from {@code cnt <= NR} stored rows of length {@code kcur} (element {@code (j,
   * q)} at {@code src + j * ld + q}: transposed B) into {@code dst[off + q * NR + j]}, zero for
   * {@code j >= cnt}. The rows are staged {@code L} at a time and transposed with scalar copies
   * whose writes are contiguous.
   */
  static void packBTransposed(
      MemorySegment s, long src, int ld, int cnt, int kcur, float[] dst, int off, float[] stage) {
    int st = kcur + L;
    for (int j0 = 0; j0 < NR; j0 += L) {
      int rows = Math.max(0, Math.min(L, cnt - j0));
      for (int r = 0; r < rows; r++) {
        MemorySegment.copy(s, F, (src + (long) (j0 + r) * ld) * Float.BYTES, stage, r * st, kcur);
      }
      for (int q = 0; q < kcur; q++) {
        int d = off + q * NR + j0;
        int r = 0;
        for (; r < rows; r++) {
          dst[d + r] = stage[r * st + q];
        }
        for (; r < L; r++) {
          dst[d + r] = 0f;
        }
      }
    }
  }

  /**
   * Packs B's sliver from {@code kcur} stored rows of {@code cnt <= NR} contiguous elements (row
   * {@code q} at {@code src + q * ld}) into {@code dst[off + q * NR + j]}, zero for {@code j >=
   * cnt}: two vector copies per row, straight from the segment.
   */
  static void packBStraight(
      MemorySegment s, long src, int ld, int cnt, int kcur, float[] dst, int off) {
    boolean full = cnt == NR;
    VectorMask<Float> m0 = S.indexInRange(0, cnt);
    VectorMask<Float> m1 = S.indexInRange(L, cnt);
    for (int q = 0; q < kcur; q++) {
      long o = (src + (long) q * ld) * Float.BYTES;
      int d = off + q * NR;
      if (full) {
        FloatVector.fromMemorySegment(S, s, o, NATIVE).intoArray(dst, d);
        FloatVector.fromMemorySegment(S, s, o + LB, NATIVE).intoArray(dst, d + L);
      } else {
        FloatVector.fromMemorySegment(S, s, o, NATIVE, m0).intoArray(dst, d);
        FloatVector.fromMemorySegment(S, s, o + LB, NATIVE, m1).intoArray(dst, d + L);
      }
    }
  }

  /**
   * Packs {@code rows} stored rows of {@code kcur} contiguous elements (row {@code r} at {@code src
   * + r * ld}: A not transposed) as they are, row {@code r} at {@code dst[r * AS]}; rows up to
   * {@code padded} are zeroed. The "R" microkernels broadcast straight from these rows.
   */
  static void packARows(
      MemorySegment s, long src, int ld, int rows, int padded, int kcur, float[] dst) {
    for (int r = 0; r < rows; r++) {
      MemorySegment.copy(s, F, (src + (long) r * ld) * Float.BYTES, dst, r * AS, kcur);
    }
    for (int r = rows; r < padded; r++) {
      Arrays.fill(dst, r * AS, r * AS + kcur, 0f);
    }
  }

  /**
   * Packs {@code rows} columns of a stored {@code kcur x rows} block (element {@code (q, r)} at
   * {@code src + q * ld + r}: A transposed) into k-major slivers of {@code mr} rows: {@code dst[(r
   * / mr) * aSliver(mr, kcur) + q * mr + r % mr]}, zero-padded to a multiple of {@code mr}. Per k:
   * one bulk copy into the stage, then one vector move per sliver (two where {@code mr > L}: 12
   * rows with AVX2's 8 lanes), whose lanes past {@code mr} spill into the next k's slot (written
   * afterwards) or, for the last k, the sliver's padding. (Copying the stored rows as they are, as
   * for untransposed A, would save this rearrangement, but the "K" microkernel then reads a new
   * cache line every k instead of every 16/12 k: measured 12% slower.)
   */
  static void packASlivers(
      MemorySegment s, long src, int ld, int rows, int mr, int kcur, float[] dst, float[] stage) {
    int slivers = (rows + mr - 1) / mr;
    int sliverSize = aSliver(mr, kcur);
    Arrays.fill(stage, rows, slivers * mr + L, 0f);
    for (int q = 0; q < kcur; q++) {
      MemorySegment.copy(s, F, (src + (long) q * ld) * Float.BYTES, stage, 0, rows);
      for (int sl = 0, r0 = 0, d = q * mr; sl < slivers; sl++, r0 += mr, d += sliverSize) {
        for (int v = 0; v < mr; v += L) { // one move, or two where mr > L (12 rows, AVX2's 8)
          FloatVector.fromArray(S, stage, r0 + v).intoArray(dst, d + v);
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
  static void updateTile(
      float[] tile,
      int mr,
      MemorySegment c,
      long cIdx,
      int ldc,
      int rows,
      int cols,
      float alpha,
      float beta) {
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

  /** The 12 x 2L microkernel on k-major A slivers: {@code ap[ai + p * aStep + i]}. */
  static void kernel12K(int kc, float[] ap, int ai, int aStep, float[] bp, int bi, float[] tile) {
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
      ai += aStep;
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

  /** The 12 x 2L microkernel on A as stored: rows at {@code ap[ai + i * AS + p]}. */
  static void kernel12R(int kc, float[] ap, int ai, float[] bp, int bi, float[] tile) {
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
      a = FloatVector.broadcast(S, ap[ai + AS]);
      c1a = a.fma(b0, c1a);
      c1b = a.fma(b1, c1b);
      a = FloatVector.broadcast(S, ap[ai + 2 * AS]);
      c2a = a.fma(b0, c2a);
      c2b = a.fma(b1, c2b);
      a = FloatVector.broadcast(S, ap[ai + 3 * AS]);
      c3a = a.fma(b0, c3a);
      c3b = a.fma(b1, c3b);
      a = FloatVector.broadcast(S, ap[ai + 4 * AS]);
      c4a = a.fma(b0, c4a);
      c4b = a.fma(b1, c4b);
      a = FloatVector.broadcast(S, ap[ai + 5 * AS]);
      c5a = a.fma(b0, c5a);
      c5b = a.fma(b1, c5b);
      a = FloatVector.broadcast(S, ap[ai + 6 * AS]);
      c6a = a.fma(b0, c6a);
      c6b = a.fma(b1, c6b);
      a = FloatVector.broadcast(S, ap[ai + 7 * AS]);
      c7a = a.fma(b0, c7a);
      c7b = a.fma(b1, c7b);
      a = FloatVector.broadcast(S, ap[ai + 8 * AS]);
      c8a = a.fma(b0, c8a);
      c8b = a.fma(b1, c8b);
      a = FloatVector.broadcast(S, ap[ai + 9 * AS]);
      c9a = a.fma(b0, c9a);
      c9b = a.fma(b1, c9b);
      a = FloatVector.broadcast(S, ap[ai + 10 * AS]);
      c10a = a.fma(b0, c10a);
      c10b = a.fma(b1, c10b);
      a = FloatVector.broadcast(S, ap[ai + 11 * AS]);
      c11a = a.fma(b0, c11a);
      c11b = a.fma(b1, c11b);
      ai++;
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

  /** The 6 x 2L microkernel on k-major A slivers: {@code ap[ai + p * aStep + i]}. */
  static void kernel6K(int kc, float[] ap, int ai, int aStep, float[] bp, int bi, float[] tile) {
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
      ai += aStep;
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

  /** The 6 x 2L microkernel on A as stored: rows at {@code ap[ai + i * AS + p]}. */
  static void kernel6R(int kc, float[] ap, int ai, float[] bp, int bi, float[] tile) {
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
      a = FloatVector.broadcast(S, ap[ai + AS]);
      c1a = a.fma(b0, c1a);
      c1b = a.fma(b1, c1b);
      a = FloatVector.broadcast(S, ap[ai + 2 * AS]);
      c2a = a.fma(b0, c2a);
      c2b = a.fma(b1, c2b);
      a = FloatVector.broadcast(S, ap[ai + 3 * AS]);
      c3a = a.fma(b0, c3a);
      c3b = a.fma(b1, c3b);
      a = FloatVector.broadcast(S, ap[ai + 4 * AS]);
      c4a = a.fma(b0, c4a);
      c4b = a.fma(b1, c4b);
      a = FloatVector.broadcast(S, ap[ai + 5 * AS]);
      c5a = a.fma(b0, c5a);
      c5b = a.fma(b1, c5b);
      ai++;
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
