package dev.cria.engine.cpu;

import static dev.cria.engine.cpu.CpuKernels.f32;
import static dev.cria.engine.cpu.VectorMath.expInPlace;
import static dev.cria.engine.cpu.VectorMath.max;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.cria.engine.backend.AttentionShape;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The causal attention of {@link CpuKernels}, forward and backward, one task per batch and
 * key/value head (the query heads of its group share the task's copies of those keys and values).
 * Keys are walked in blocks of KEY_BLOCK with an online softmax, so no T x T score matrix is ever
 * held: the forward keeps each row's running max and sum, rescales its accumulator when the max
 * grows, and saves the log-sum-exp; the backward recomputes each block's probabilities from that
 * log-sum-exp instead of storing them, and gathers dk and dv over the whole group before writing
 * them once. The forward takes eight query rows (2 ROWS) at a time, so each load of a key or a
 * value serves all of them. The backward takes QUERY_BLOCK rows per block of keys: it makes their p
 * and ds eight rows at a time into a tile, then sums dk and dv over all the block's rows with eight
 * keys' rows held in registers (a key's dk and dv are loaded and stored once per 32 query rows
 * instead of once per four), and dq over the block's keys as the forward sums the values. A task
 * runs on one thread, so the bits do not depend on the thread count. Per-thread scratch is
 * preallocated and grown only when a larger shape arrives; each method checks the dtypes of its
 * views first.
 *
 * <p>This file is long because the Vector API keeps values in registers only as named locals: the
 * helpers that share loads across four or eight rows (or keys) are written out lane group by lane
 * group, 8 or 16 accumulators each, which is most of its length. Splitting them over files would
 * only separate the forward and backward passes from the tiles they are tuned with.
 */
final class CpuAttention {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  /** Keys per block in attention's online softmax. */
  private static final int KEY_BLOCK = 128;

  /**
   * Query rows that attention walks the keys with together (the helpers that share loads across
   * rows are written out for exactly four).
   */
  private static final int ROWS = 4;

  /**
   * Query rows the backward pass takes per block of keys: dk and dv sum over all of them at once (a
   * multiple of ROWS).
   */
  private static final int QUERY_BLOCK = 32;

  private final Parallel parallel;
  private final Scratch[] scratch;

  CpuAttention(Parallel parallel) {
    this.parallel = parallel;
    this.scratch = new Scratch[parallel.threads()];
    for (int i = 0; i < scratch.length; i++) {
      scratch[i] = new Scratch();
    }
  }

  /** Per-thread working memory. */
  private static final class Scratch {
    float[] a = new float[0];
    float[] b = new float[0];
    float[] c = new float[0];
    float[] d = new float[0];
    float[] e = new float[0];

    float[] a(int n) {
      return a.length >= n ? a : (a = new float[n]);
    }

    float[] b(int n) {
      return b.length >= n ? b : (b = new float[n]);
    }

    float[] c(int n) {
      return c.length >= n ? c : (c = new float[n]);
    }

    float[] d(int n) {
      return d.length >= n ? d : (d = new float[n]);
    }

    float[] e(int n) {
      return e.length >= n ? e : (e = new float[n]);
    }
  }

  /** Causal attention forward: {@code out} and, for the backward, each row's log-sum-exp. */
  void forward(
      View outView, View lseView, View qView, View kView, View vView, AttentionShape shape) {
    MemorySegment out = f32(outView, "out");
    long outOff = outView.offset();
    MemorySegment lse = f32(lseView, "lse");
    long lseOff = lseView.offset();
    MemorySegment q = f32(qView, "q");
    long qOff = qView.offset();
    MemorySegment k = f32(kView, "k");
    long kOff = kView.offset();
    MemorySegment v = f32(vView, "v");
    long vOff = vView.offset();
    int batch = shape.batch();
    int seq = shape.seq();
    int heads = shape.heads();
    int kvHeads = shape.kvHeads();
    int headDim = shape.headDim();
    int group = heads / kvHeads;
    float scale = (float) (1.0 / Math.sqrt(headDim));
    parallel.forEach(
        batch * kvHeads,
        (task, worker) -> {
          int b = task / kvHeads;
          int kh = task % kvHeads;
          Scratch s = scratch[worker];
          float[] kT = s.a(headDim * seq); // keys transposed: kT[c * seq + j]
          float[] vs = s.b(seq * headDim); // values: vs[j * hd + c]
          float[] scores = s.c(2 * KEY_BLOCK * 2 * ROWS); // per row r at r * 2 * KEY_BLOCK
          float[] acc = s.d(2 * ROWS * headDim);
          float[] qs = s.e(2 * ROWS * headDim);
          float[] max = new float[2 * ROWS];
          float[] sum = new float[2 * ROWS];
          for (int j = 0; j < seq; j++) {
            long kj = kOff + (((long) b * seq + j) * kvHeads + kh) * headDim;
            long vj = vOff + (((long) b * seq + j) * kvHeads + kh) * headDim;
            for (int c = 0; c < headDim; c++) {
              kT[c * seq + j] = k.getAtIndex(JAVA_FLOAT, kj + c);
            }
            MemorySegment.copy(v, JAVA_FLOAT, vj * 4, vs, j * headDim, headDim);
          }
          for (int g = 0; g < group; g++) {
            int h = kh * group + g;
            // 2 ROWS query rows at a time share every load of a key and a value; rows past the end
            // of the sequence are zero and their results are dropped.
            for (int i0 = 0; i0 < seq; i0 += 2 * ROWS) {
              int rowsHere = Math.min(2 * ROWS, seq - i0);
              java.util.Arrays.fill(qs, 0, 2 * ROWS * headDim, 0f);
              java.util.Arrays.fill(acc, 0, 2 * ROWS * headDim, 0f);
              java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
              java.util.Arrays.fill(sum, 0f);
              for (int r = 0; r < rowsHere; r++) {
                long qRow = qOff + (((long) b * seq + i0 + r) * heads + h) * headDim;
                MemorySegment.copy(q, JAVA_FLOAT, qRow * 4, qs, r * headDim, headDim);
              }
              int last = i0 + rowsHere - 1;
              for (int j0 = 0; j0 <= last; j0 += KEY_BLOCK) {
                int countMax = Math.min(KEY_BLOCK, last + 1 - j0);
                eightRowsTimesKeys(
                    qs, headDim, 0, kT, 0, seq, j0, countMax, headDim, scale, scores, 0);
                for (int r = 0; r < 2 * ROWS; r++) {
                  int at = r * 2 * KEY_BLOCK;
                  int count = r < rowsHere ? Math.min(countMax, i0 + r + 1 - j0) : 0;
                  if (count > 0) {
                    float blockMax = max(scores, at, count);
                    float newMax = Math.max(max[r], blockMax);
                    float correction = VectorMath.exp(max[r] - newMax);
                    sum[r] = sum[r] * correction + expInPlace(scores, at, count, newMax);
                    scaleArray(acc, r * headDim, headDim, correction);
                    max[r] = newMax;
                  }
                  java.util.Arrays.fill(scores, at + Math.max(count, 0), at + countMax, 0f);
                }
                eightRowsTimesValues(acc, headDim, vs, j0, countMax, scores);
              }
              for (int r = 0; r < rowsHere; r++) {
                int i = i0 + r;
                lse.setAtIndex(
                    JAVA_FLOAT,
                    lseOff + ((long) b * heads + h) * seq + i,
                    (float) (max[r] + Math.log(sum[r])));
                float inv = 1f / sum[r];
                long oRow = outOff + (((long) b * seq + i) * heads + h) * headDim;
                for (int c = 0; c < headDim; c++) {
                  out.setAtIndex(JAVA_FLOAT, oRow + c, acc[r * headDim + c] * inv);
                }
              }
            }
          }
        });
  }

  /**
   * {@code acc_r += p_rj v_(j0+j)} for the ROWS rows (row r at {@code acc[accAt + r headDim]} and
   * {@code p[pAt + 2 r KEY_BLOCK]}), columns {@code [from, headDim)}, and j in [0, count), in
   * increasing j (the order of the online softmax's blocks, so the sums do not depend on how this
   * is blocked): two vectors of columns at a time, whose 8 accumulators stay in registers over all
   * the keys, so each key costs two loads of v, four broadcasts and eight FMAs, and no loads or
   * stores of {@code acc}. The backward pass sums dq with it (ds for p, the keys for v).
   */
  private static void accumulateValues(
      float[] acc,
      int accAt,
      int from,
      int headDim,
      float[] vs,
      int j0,
      int count,
      float[] p,
      int pAt) {
    int r0 = accAt;
    int r1 = accAt + headDim;
    int r2 = accAt + 2 * headDim;
    int r3 = accAt + 3 * headDim;
    int at0 = pAt;
    int at1 = pAt + 2 * KEY_BLOCK;
    int at2 = pAt + 4 * KEY_BLOCK;
    int at3 = pAt + 6 * KEY_BLOCK;
    int c = from;
    for (; c <= headDim - 2 * L; c += 2 * L) {
      FloatVector a00 = FloatVector.fromArray(S, acc, r0 + c);
      FloatVector a01 = FloatVector.fromArray(S, acc, r0 + c + L);
      FloatVector a10 = FloatVector.fromArray(S, acc, r1 + c);
      FloatVector a11 = FloatVector.fromArray(S, acc, r1 + c + L);
      FloatVector a20 = FloatVector.fromArray(S, acc, r2 + c);
      FloatVector a21 = FloatVector.fromArray(S, acc, r2 + c + L);
      FloatVector a30 = FloatVector.fromArray(S, acc, r3 + c);
      FloatVector a31 = FloatVector.fromArray(S, acc, r3 + c + L);
      for (int j = 0; j < count; j++) {
        int vAt = (j0 + j) * headDim + c;
        FloatVector v0 = FloatVector.fromArray(S, vs, vAt);
        FloatVector v1 = FloatVector.fromArray(S, vs, vAt + L);
        FloatVector p0 = FloatVector.broadcast(S, p[at0 + j]);
        FloatVector p1 = FloatVector.broadcast(S, p[at1 + j]);
        FloatVector p2 = FloatVector.broadcast(S, p[at2 + j]);
        FloatVector p3 = FloatVector.broadcast(S, p[at3 + j]);
        a00 = v0.fma(p0, a00);
        a01 = v1.fma(p0, a01);
        a10 = v0.fma(p1, a10);
        a11 = v1.fma(p1, a11);
        a20 = v0.fma(p2, a20);
        a21 = v1.fma(p2, a21);
        a30 = v0.fma(p3, a30);
        a31 = v1.fma(p3, a31);
      }
      a00.intoArray(acc, r0 + c);
      a01.intoArray(acc, r0 + c + L);
      a10.intoArray(acc, r1 + c);
      a11.intoArray(acc, r1 + c + L);
      a20.intoArray(acc, r2 + c);
      a21.intoArray(acc, r2 + c + L);
      a30.intoArray(acc, r3 + c);
      a31.intoArray(acc, r3 + c + L);
    }
    for (; c <= headDim - L; c += L) {
      FloatVector a0 = FloatVector.fromArray(S, acc, r0 + c);
      FloatVector a1 = FloatVector.fromArray(S, acc, r1 + c);
      FloatVector a2 = FloatVector.fromArray(S, acc, r2 + c);
      FloatVector a3 = FloatVector.fromArray(S, acc, r3 + c);
      for (int j = 0; j < count; j++) {
        FloatVector v0 = FloatVector.fromArray(S, vs, (j0 + j) * headDim + c);
        a0 = v0.fma(FloatVector.broadcast(S, p[at0 + j]), a0);
        a1 = v0.fma(FloatVector.broadcast(S, p[at1 + j]), a1);
        a2 = v0.fma(FloatVector.broadcast(S, p[at2 + j]), a2);
        a3 = v0.fma(FloatVector.broadcast(S, p[at3 + j]), a3);
      }
      a0.intoArray(acc, r0 + c);
      a1.intoArray(acc, r1 + c);
      a2.intoArray(acc, r2 + c);
      a3.intoArray(acc, r3 + c);
    }
    for (; c < headDim; c++) {
      for (int j = 0; j < count; j++) {
        float vc = vs[(j0 + j) * headDim + c];
        acc[r0 + c] += p[at0 + j] * vc;
        acc[r1 + c] += p[at1 + j] * vc;
        acc[r2 + c] += p[at2 + j] * vc;
        acc[r3 + c] += p[at3 + j] * vc;
      }
    }
  }

  /**
   * {@link #accumulateValues} for 2 ROWS rows at {@code acc[0..)} and {@code p[0..)} (the
   * forward's): two vectors of columns by eight rows, 16 accumulators in registers over all the
   * keys, so a key costs two loads of v, eight broadcasts and sixteen FMAs; the columns past the
   * last whole pair go through {@link #accumulateValues}, four rows at a time.
   */
  private static void eightRowsTimesValues(
      float[] acc, int headDim, float[] vs, int j0, int count, float[] p) {
    int hd = headDim;
    int step = 2 * KEY_BLOCK;
    int c = 0;
    for (; c <= hd - 2 * L; c += 2 * L) {
      FloatVector a00 = FloatVector.fromArray(S, acc, c);
      FloatVector a01 = FloatVector.fromArray(S, acc, c + L);
      FloatVector a10 = FloatVector.fromArray(S, acc, hd + c);
      FloatVector a11 = FloatVector.fromArray(S, acc, hd + c + L);
      FloatVector a20 = FloatVector.fromArray(S, acc, 2 * hd + c);
      FloatVector a21 = FloatVector.fromArray(S, acc, 2 * hd + c + L);
      FloatVector a30 = FloatVector.fromArray(S, acc, 3 * hd + c);
      FloatVector a31 = FloatVector.fromArray(S, acc, 3 * hd + c + L);
      FloatVector a40 = FloatVector.fromArray(S, acc, 4 * hd + c);
      FloatVector a41 = FloatVector.fromArray(S, acc, 4 * hd + c + L);
      FloatVector a50 = FloatVector.fromArray(S, acc, 5 * hd + c);
      FloatVector a51 = FloatVector.fromArray(S, acc, 5 * hd + c + L);
      FloatVector a60 = FloatVector.fromArray(S, acc, 6 * hd + c);
      FloatVector a61 = FloatVector.fromArray(S, acc, 6 * hd + c + L);
      FloatVector a70 = FloatVector.fromArray(S, acc, 7 * hd + c);
      FloatVector a71 = FloatVector.fromArray(S, acc, 7 * hd + c + L);
      for (int j = 0; j < count; j++) {
        int vAt = (j0 + j) * hd + c;
        FloatVector v0 = FloatVector.fromArray(S, vs, vAt);
        FloatVector v1 = FloatVector.fromArray(S, vs, vAt + L);
        FloatVector w = FloatVector.broadcast(S, p[j]);
        a00 = v0.fma(w, a00);
        a01 = v1.fma(w, a01);
        w = FloatVector.broadcast(S, p[step + j]);
        a10 = v0.fma(w, a10);
        a11 = v1.fma(w, a11);
        w = FloatVector.broadcast(S, p[2 * step + j]);
        a20 = v0.fma(w, a20);
        a21 = v1.fma(w, a21);
        w = FloatVector.broadcast(S, p[3 * step + j]);
        a30 = v0.fma(w, a30);
        a31 = v1.fma(w, a31);
        w = FloatVector.broadcast(S, p[4 * step + j]);
        a40 = v0.fma(w, a40);
        a41 = v1.fma(w, a41);
        w = FloatVector.broadcast(S, p[5 * step + j]);
        a50 = v0.fma(w, a50);
        a51 = v1.fma(w, a51);
        w = FloatVector.broadcast(S, p[6 * step + j]);
        a60 = v0.fma(w, a60);
        a61 = v1.fma(w, a61);
        w = FloatVector.broadcast(S, p[7 * step + j]);
        a70 = v0.fma(w, a70);
        a71 = v1.fma(w, a71);
      }
      a00.intoArray(acc, c);
      a01.intoArray(acc, c + L);
      a10.intoArray(acc, hd + c);
      a11.intoArray(acc, hd + c + L);
      a20.intoArray(acc, 2 * hd + c);
      a21.intoArray(acc, 2 * hd + c + L);
      a30.intoArray(acc, 3 * hd + c);
      a31.intoArray(acc, 3 * hd + c + L);
      a40.intoArray(acc, 4 * hd + c);
      a41.intoArray(acc, 4 * hd + c + L);
      a50.intoArray(acc, 5 * hd + c);
      a51.intoArray(acc, 5 * hd + c + L);
      a60.intoArray(acc, 6 * hd + c);
      a61.intoArray(acc, 6 * hd + c + L);
      a70.intoArray(acc, 7 * hd + c);
      a71.intoArray(acc, 7 * hd + c + L);
    }
    if (c < hd) {
      accumulateValues(acc, 0, c, hd, vs, j0, count, p, 0);
      accumulateValues(acc, ROWS * hd, c, hd, vs, j0, count, p, ROWS * step);
    }
  }

  /** Causal attention backward: dq, dk and dv (overwritten) from dOut and the forward's lse. */
  void backward(
      View dqView,
      View dkView,
      View dvView,
      View dOutView,
      View qView,
      View kView,
      View vView,
      View outView,
      View lseView,
      AttentionShape shape) {
    MemorySegment dq = f32(dqView, "dq");
    long dqOff = dqView.offset();
    MemorySegment dk = f32(dkView, "dk");
    long dkOff = dkView.offset();
    MemorySegment dv = f32(dvView, "dv");
    long dvOff = dvView.offset();
    MemorySegment dOut = f32(dOutView, "dOut");
    long dOutOff = dOutView.offset();
    MemorySegment q = f32(qView, "q");
    long qOff = qView.offset();
    MemorySegment k = f32(kView, "k");
    long kOff = kView.offset();
    MemorySegment v = f32(vView, "v");
    long vOff = vView.offset();
    MemorySegment out = f32(outView, "out");
    long outOff = outView.offset();
    MemorySegment lse = f32(lseView, "lse");
    long lseOff = lseView.offset();
    int batch = shape.batch();
    int seq = shape.seq();
    int heads = shape.heads();
    int kvHeads = shape.kvHeads();
    int headDim = shape.headDim();
    int group = heads / kvHeads;
    float scale = (float) (1.0 / Math.sqrt(headDim));
    parallel.forEach(
        batch * kvHeads,
        (task, worker) -> {
          int b = task / kvHeads;
          int kh = task % kvHeads;
          Scratch s = scratch[worker];
          // kT and vT transposed [c * seq + j]; kv holds k, then dk, then dv as rows [j * hd + c]
          float[] kT = s.a(2 * headDim * seq);
          int vT = headDim * seq;
          float[] kv = s.b(3 * seq * headDim);
          int dkBase = seq * headDim;
          int dvBase = 2 * seq * headDim;
          // per row of the query block: p, then ds, for one block of keys
          float[] tile = s.c(QUERY_BLOCK * 2 * KEY_BLOCK);
          // the query block's q rows, then its dO rows, then its dq rows, then one output row
          float[] rows = s.d(3 * QUERY_BLOCK * headDim + headDim);
          int dOBase = QUERY_BLOCK * headDim;
          int dqBase = 2 * QUERY_BLOCK * headDim;
          int outRow = 3 * QUERY_BLOCK * headDim;
          for (int j = 0; j < seq; j++) {
            long kj = kOff + (((long) b * seq + j) * kvHeads + kh) * headDim;
            long vj = vOff + (((long) b * seq + j) * kvHeads + kh) * headDim;
            MemorySegment.copy(k, JAVA_FLOAT, kj * 4, kv, j * headDim, headDim);
            for (int c = 0; c < headDim; c++) {
              kT[c * seq + j] = kv[j * headDim + c];
              kT[vT + c * seq + j] = v.getAtIndex(JAVA_FLOAT, vj + c);
            }
          }
          java.util.Arrays.fill(kv, dkBase, 3 * seq * headDim, 0f);
          float[] di = new float[QUERY_BLOCK];
          float[] rowLse = new float[QUERY_BLOCK];
          for (int g = 0; g < group; g++) {
            int h = kh * group + g;
            // QUERY_BLOCK query rows at a time: their p and ds for a block of keys are made ROWS
            // rows at a time, then dk and dv sum over all of them at once; rows past the end of
            // the sequence stay zero and contribute nothing.
            for (int i0 = 0; i0 < seq; i0 += QUERY_BLOCK) {
              int rowsHere = Math.min(QUERY_BLOCK, seq - i0);
              int padded = (rowsHere + ROWS - 1) / ROWS * ROWS;
              java.util.Arrays.fill(rows, 0, 3 * QUERY_BLOCK * headDim, 0f);
              for (int r = 0; r < rowsHere; r++) {
                long row = (((long) b * seq + i0 + r) * heads + h) * headDim;
                MemorySegment.copy(q, JAVA_FLOAT, (qOff + row) * 4, rows, r * headDim, headDim);
                MemorySegment.copy(
                    dOut, JAVA_FLOAT, (dOutOff + row) * 4, rows, dOBase + r * headDim, headDim);
                MemorySegment.copy(out, JAVA_FLOAT, (outOff + row) * 4, rows, outRow, headDim);
                di[r] = dot(rows, dOBase + r * headDim, rows, outRow, headDim);
                rowLse[r] =
                    lse.getAtIndex(JAVA_FLOAT, lseOff + ((long) b * heads + h) * seq + i0 + r);
              }
              int last = i0 + rowsHere - 1;
              for (int j0 = 0; j0 <= last; j0 += KEY_BLOCK) {
                int countMax = Math.min(KEY_BLOCK, last + 1 - j0);
                for (int sub = 0, width; sub < padded; sub += width) {
                  width = padded - sub >= 2 * ROWS ? 2 * ROWS : ROWS;
                  int at = sub * 2 * KEY_BLOCK;
                  // scores (scale q·k) into each row's p, and dp = dO·v into its ds slot
                  if (width == 2 * ROWS) {
                    eightRowsTimesKeys(
                        rows,
                        headDim,
                        sub * headDim,
                        kT,
                        0,
                        seq,
                        j0,
                        countMax,
                        headDim,
                        scale,
                        tile,
                        at);
                    eightRowsTimesKeys(
                        rows,
                        headDim,
                        dOBase + sub * headDim,
                        kT,
                        vT,
                        seq,
                        j0,
                        countMax,
                        headDim,
                        1f,
                        tile,
                        at + KEY_BLOCK);
                  } else {
                    rowsTimesKeys(
                        rows,
                        headDim,
                        sub * headDim,
                        kT,
                        0,
                        seq,
                        j0,
                        countMax,
                        headDim,
                        scale,
                        tile,
                        at);
                    rowsTimesKeys(
                        rows,
                        headDim,
                        dOBase + sub * headDim,
                        kT,
                        vT,
                        seq,
                        j0,
                        countMax,
                        headDim,
                        1f,
                        tile,
                        at + KEY_BLOCK);
                  }
                  for (int r = sub; r < sub + width; r++) {
                    int pAt = r * 2 * KEY_BLOCK;
                    int dsAt = pAt + KEY_BLOCK;
                    int count = r < rowsHere ? Math.min(countMax, i0 + r + 1 - j0) : 0;
                    if (count > 0) {
                      // p = exp(scale q·k - lse); ds = p (dp - D) scale
                      expInPlace(tile, pAt, count, rowLse[r]);
                      float dr = di[r];
                      int j = 0;
                      for (; j <= count - L; j += L) {
                        FloatVector pv = FloatVector.fromArray(S, tile, pAt + j);
                        FloatVector.fromArray(S, tile, dsAt + j)
                            .sub(dr)
                            .mul(pv)
                            .mul(scale)
                            .intoArray(tile, dsAt + j);
                      }
                      for (; j < count; j++) {
                        tile[dsAt + j] = tile[pAt + j] * (tile[dsAt + j] - dr) * scale;
                      }
                    }
                    java.util.Arrays.fill(tile, pAt + Math.max(count, 0), pAt + countMax, 0f);
                    java.util.Arrays.fill(tile, dsAt + Math.max(count, 0), dsAt + countMax, 0f);
                  }
                }
                // dv_j += sum_r p_rj dO_r; dk_j += sum_r ds_rj q_r; dq_r += sum_j ds_rj k_j
                keysTimesRows(kv, dvBase, tile, 0, rows, dOBase, padded, j0, countMax, headDim);
                keysTimesRows(kv, dkBase, tile, KEY_BLOCK, rows, 0, padded, j0, countMax, headDim);
                for (int sub = 0; sub < padded; sub += ROWS) {
                  accumulateValues(
                      rows,
                      dqBase + sub * headDim,
                      0,
                      headDim,
                      kv,
                      j0,
                      countMax,
                      tile,
                      sub * 2 * KEY_BLOCK + KEY_BLOCK);
                }
              }
              for (int r = 0; r < rowsHere; r++) {
                long row = (((long) b * seq + i0 + r) * heads + h) * headDim;
                MemorySegment.copy(
                    rows, dqBase + r * headDim, dq, JAVA_FLOAT, (dqOff + row) * 4, headDim);
              }
            }
          }
          for (int j = 0; j < seq; j++) {
            long at = (((long) b * seq + j) * kvHeads + kh) * headDim;
            MemorySegment.copy(kv, dkBase + j * headDim, dk, JAVA_FLOAT, (dkOff + at) * 4, headDim);
            MemorySegment.copy(kv, dvBase + j * headDim, dv, JAVA_FLOAT, (dvOff + at) * 4, headDim);
          }
        });
  }

  /** {@code x[xAt..xAt + n) · y[yAt..yAt + n)}, the lanes' partial sums added in lane order. */
  private static float dot(float[] x, int xAt, float[] y, int yAt, int n) {
    FloatVector acc = FloatVector.zero(S);
    int c = 0;
    for (; c <= n - L; c += L) {
      acc = FloatVector.fromArray(S, x, xAt + c).fma(FloatVector.fromArray(S, y, yAt + c), acc);
    }
    float d = VectorMath.sum(acc);
    for (; c < n; c++) {
      d += x[xAt + c] * y[yAt + c];
    }
    return d;
  }

  /**
   * {@code out_(j0+j) += sum_r a_rj x_r} over the first {@code rowCount} rows r of the query block
   * (a_rj at {@code a[r 2 KEY_BLOCK + aAt + j]}, x_r at {@code x[xAt + r headDim]}), in increasing
   * r, for j in [0, count): dv from p and dO, dk from ds and q. Eight keys by two vectors of
   * columns at a time: their 16 accumulators stay in registers over all the rows, so a row costs
   * two loads of x, eight broadcasts and sixteen FMAs, and each key's row of {@code out} is loaded
   * and stored once per query block rather than once per ROWS rows.
   */
  private static void keysTimesRows(
      float[] out,
      int outAt,
      float[] a,
      int aAt,
      float[] x,
      int xAt,
      int rowCount,
      int j0,
      int count,
      int headDim) {
    int step = 2 * KEY_BLOCK;
    int hd = headDim;
    int j = 0;
    for (; j <= count - 8; j += 8) {
      int o = outAt + (j0 + j) * hd;
      int c = 0;
      for (; c <= hd - 2 * L; c += 2 * L) {
        FloatVector a00 = FloatVector.fromArray(S, out, o + c);
        FloatVector a01 = FloatVector.fromArray(S, out, o + c + L);
        FloatVector a10 = FloatVector.fromArray(S, out, o + hd + c);
        FloatVector a11 = FloatVector.fromArray(S, out, o + hd + c + L);
        FloatVector a20 = FloatVector.fromArray(S, out, o + 2 * hd + c);
        FloatVector a21 = FloatVector.fromArray(S, out, o + 2 * hd + c + L);
        FloatVector a30 = FloatVector.fromArray(S, out, o + 3 * hd + c);
        FloatVector a31 = FloatVector.fromArray(S, out, o + 3 * hd + c + L);
        FloatVector a40 = FloatVector.fromArray(S, out, o + 4 * hd + c);
        FloatVector a41 = FloatVector.fromArray(S, out, o + 4 * hd + c + L);
        FloatVector a50 = FloatVector.fromArray(S, out, o + 5 * hd + c);
        FloatVector a51 = FloatVector.fromArray(S, out, o + 5 * hd + c + L);
        FloatVector a60 = FloatVector.fromArray(S, out, o + 6 * hd + c);
        FloatVector a61 = FloatVector.fromArray(S, out, o + 6 * hd + c + L);
        FloatVector a70 = FloatVector.fromArray(S, out, o + 7 * hd + c);
        FloatVector a71 = FloatVector.fromArray(S, out, o + 7 * hd + c + L);
        for (int r = 0; r < rowCount; r++) {
          int xr = xAt + r * hd + c;
          FloatVector x0 = FloatVector.fromArray(S, x, xr);
          FloatVector x1 = FloatVector.fromArray(S, x, xr + L);
          int ar = r * step + aAt + j;
          FloatVector w = FloatVector.broadcast(S, a[ar]);
          a00 = x0.fma(w, a00);
          a01 = x1.fma(w, a01);
          w = FloatVector.broadcast(S, a[ar + 1]);
          a10 = x0.fma(w, a10);
          a11 = x1.fma(w, a11);
          w = FloatVector.broadcast(S, a[ar + 2]);
          a20 = x0.fma(w, a20);
          a21 = x1.fma(w, a21);
          w = FloatVector.broadcast(S, a[ar + 3]);
          a30 = x0.fma(w, a30);
          a31 = x1.fma(w, a31);
          w = FloatVector.broadcast(S, a[ar + 4]);
          a40 = x0.fma(w, a40);
          a41 = x1.fma(w, a41);
          w = FloatVector.broadcast(S, a[ar + 5]);
          a50 = x0.fma(w, a50);
          a51 = x1.fma(w, a51);
          w = FloatVector.broadcast(S, a[ar + 6]);
          a60 = x0.fma(w, a60);
          a61 = x1.fma(w, a61);
          w = FloatVector.broadcast(S, a[ar + 7]);
          a70 = x0.fma(w, a70);
          a71 = x1.fma(w, a71);
        }
        a00.intoArray(out, o + c);
        a01.intoArray(out, o + c + L);
        a10.intoArray(out, o + hd + c);
        a11.intoArray(out, o + hd + c + L);
        a20.intoArray(out, o + 2 * hd + c);
        a21.intoArray(out, o + 2 * hd + c + L);
        a30.intoArray(out, o + 3 * hd + c);
        a31.intoArray(out, o + 3 * hd + c + L);
        a40.intoArray(out, o + 4 * hd + c);
        a41.intoArray(out, o + 4 * hd + c + L);
        a50.intoArray(out, o + 5 * hd + c);
        a51.intoArray(out, o + 5 * hd + c + L);
        a60.intoArray(out, o + 6 * hd + c);
        a61.intoArray(out, o + 6 * hd + c + L);
        a70.intoArray(out, o + 7 * hd + c);
        a71.intoArray(out, o + 7 * hd + c + L);
      }
      for (; c <= hd - L; c += L) {
        FloatVector a0 = FloatVector.fromArray(S, out, o + c);
        FloatVector a1 = FloatVector.fromArray(S, out, o + hd + c);
        FloatVector a2 = FloatVector.fromArray(S, out, o + 2 * hd + c);
        FloatVector a3 = FloatVector.fromArray(S, out, o + 3 * hd + c);
        FloatVector a4 = FloatVector.fromArray(S, out, o + 4 * hd + c);
        FloatVector a5 = FloatVector.fromArray(S, out, o + 5 * hd + c);
        FloatVector a6 = FloatVector.fromArray(S, out, o + 6 * hd + c);
        FloatVector a7 = FloatVector.fromArray(S, out, o + 7 * hd + c);
        for (int r = 0; r < rowCount; r++) {
          FloatVector x0 = FloatVector.fromArray(S, x, xAt + r * hd + c);
          int ar = r * step + aAt + j;
          a0 = x0.fma(FloatVector.broadcast(S, a[ar]), a0);
          a1 = x0.fma(FloatVector.broadcast(S, a[ar + 1]), a1);
          a2 = x0.fma(FloatVector.broadcast(S, a[ar + 2]), a2);
          a3 = x0.fma(FloatVector.broadcast(S, a[ar + 3]), a3);
          a4 = x0.fma(FloatVector.broadcast(S, a[ar + 4]), a4);
          a5 = x0.fma(FloatVector.broadcast(S, a[ar + 5]), a5);
          a6 = x0.fma(FloatVector.broadcast(S, a[ar + 6]), a6);
          a7 = x0.fma(FloatVector.broadcast(S, a[ar + 7]), a7);
        }
        a0.intoArray(out, o + c);
        a1.intoArray(out, o + hd + c);
        a2.intoArray(out, o + 2 * hd + c);
        a3.intoArray(out, o + 3 * hd + c);
        a4.intoArray(out, o + 4 * hd + c);
        a5.intoArray(out, o + 5 * hd + c);
        a6.intoArray(out, o + 6 * hd + c);
        a7.intoArray(out, o + 7 * hd + c);
      }
      // the columns left (fewer than a vector): one key at a time
      for (int key = 0; key < 8; key++) {
        keyTimesRows(out, o + key * hd, c, a, aAt + j + key, x, xAt, rowCount, hd);
      }
    }
    for (; j < count; j++) {
      keyTimesRows(out, outAt + (j0 + j) * hd, 0, a, aAt + j, x, xAt, rowCount, hd);
    }
  }

  /**
   * One key's row of {@link #keysTimesRows}, from column {@code from}: {@code out[o + c] += sum_r
   * a[r 2 KEY_BLOCK + aAt] x[xAt + r headDim + c]}, a vector of columns at a time, then one.
   */
  private static void keyTimesRows(
      float[] out, int o, int from, float[] a, int aAt, float[] x, int xAt, int rowCount, int hd) {
    int step = 2 * KEY_BLOCK;
    int c = from;
    for (; c <= hd - L; c += L) {
      FloatVector acc = FloatVector.fromArray(S, out, o + c);
      for (int r = 0; r < rowCount; r++) {
        acc =
            FloatVector.fromArray(S, x, xAt + r * hd + c)
                .fma(FloatVector.broadcast(S, a[r * step + aAt]), acc);
      }
      acc.intoArray(out, o + c);
    }
    for (; c < hd; c++) {
      float acc = out[o + c];
      for (int r = 0; r < rowCount; r++) {
        acc += a[r * step + aAt] * x[xAt + r * hd + c];
      }
      out[o + c] = acc;
    }
  }

  /**
   * {@link #rowsTimesKeys} for 2 ROWS rows (the backward pass's): two vectors of keys by eight
   * rows, 16 accumulators, so a column costs two loads, eight broadcasts and sixteen FMAs; the keys
   * past the last whole pair of vectors go through {@link #rowsTimesKeys}, four rows at a time.
   */
  private static void eightRowsTimesKeys(
      float[] rows,
      int stride,
      int rowOffset,
      float[] t,
      int tAt,
      int seq,
      int j0,
      int count,
      int headDim,
      float scale,
      float[] out,
      int outAt) {
    int step = 2 * KEY_BLOCK;
    int j = 0;
    for (; j <= count - 2 * L; j += 2 * L) {
      FloatVector a00 = FloatVector.zero(S);
      FloatVector a01 = FloatVector.zero(S);
      FloatVector a10 = FloatVector.zero(S);
      FloatVector a11 = FloatVector.zero(S);
      FloatVector a20 = FloatVector.zero(S);
      FloatVector a21 = FloatVector.zero(S);
      FloatVector a30 = FloatVector.zero(S);
      FloatVector a31 = FloatVector.zero(S);
      FloatVector a40 = FloatVector.zero(S);
      FloatVector a41 = FloatVector.zero(S);
      FloatVector a50 = FloatVector.zero(S);
      FloatVector a51 = FloatVector.zero(S);
      FloatVector a60 = FloatVector.zero(S);
      FloatVector a61 = FloatVector.zero(S);
      FloatVector a70 = FloatVector.zero(S);
      FloatVector a71 = FloatVector.zero(S);
      for (int c = 0; c < headDim; c++) {
        int at = tAt + c * seq + j0 + j;
        FloatVector k0 = FloatVector.fromArray(S, t, at);
        FloatVector k1 = FloatVector.fromArray(S, t, at + L);
        int r = rowOffset + c;
        FloatVector w = FloatVector.broadcast(S, rows[r]);
        a00 = k0.fma(w, a00);
        a01 = k1.fma(w, a01);
        w = FloatVector.broadcast(S, rows[r + stride]);
        a10 = k0.fma(w, a10);
        a11 = k1.fma(w, a11);
        w = FloatVector.broadcast(S, rows[r + 2 * stride]);
        a20 = k0.fma(w, a20);
        a21 = k1.fma(w, a21);
        w = FloatVector.broadcast(S, rows[r + 3 * stride]);
        a30 = k0.fma(w, a30);
        a31 = k1.fma(w, a31);
        w = FloatVector.broadcast(S, rows[r + 4 * stride]);
        a40 = k0.fma(w, a40);
        a41 = k1.fma(w, a41);
        w = FloatVector.broadcast(S, rows[r + 5 * stride]);
        a50 = k0.fma(w, a50);
        a51 = k1.fma(w, a51);
        w = FloatVector.broadcast(S, rows[r + 6 * stride]);
        a60 = k0.fma(w, a60);
        a61 = k1.fma(w, a61);
        w = FloatVector.broadcast(S, rows[r + 7 * stride]);
        a70 = k0.fma(w, a70);
        a71 = k1.fma(w, a71);
      }
      int o = outAt + j;
      a00.mul(scale).intoArray(out, o);
      a01.mul(scale).intoArray(out, o + L);
      a10.mul(scale).intoArray(out, o + step);
      a11.mul(scale).intoArray(out, o + step + L);
      a20.mul(scale).intoArray(out, o + 2 * step);
      a21.mul(scale).intoArray(out, o + 2 * step + L);
      a30.mul(scale).intoArray(out, o + 3 * step);
      a31.mul(scale).intoArray(out, o + 3 * step + L);
      a40.mul(scale).intoArray(out, o + 4 * step);
      a41.mul(scale).intoArray(out, o + 4 * step + L);
      a50.mul(scale).intoArray(out, o + 5 * step);
      a51.mul(scale).intoArray(out, o + 5 * step + L);
      a60.mul(scale).intoArray(out, o + 6 * step);
      a61.mul(scale).intoArray(out, o + 6 * step + L);
      a70.mul(scale).intoArray(out, o + 7 * step);
      a71.mul(scale).intoArray(out, o + 7 * step + L);
    }
    for (int half = 0; j < count && half < 2; half++) {
      rowsTimesKeys(
          rows,
          stride,
          rowOffset + half * ROWS * stride,
          t,
          tAt,
          seq,
          j0 + j,
          count - j,
          headDim,
          scale,
          out,
          outAt + half * ROWS * step + j);
    }
  }

  /**
   * For the ROWS rows r: {@code out[outAt + 2 r KEY_BLOCK + j] = scale * rows[r stride + rowOffset
   * ..] · t[tAt + c * seq + j0 + j]} for j in [0, count): four dot products per loaded vector of
   * the transposed keys (or values).
   */
  private static void rowsTimesKeys(
      float[] rows,
      int stride,
      int rowOffset,
      float[] t,
      int tAt,
      int seq,
      int j0,
      int count,
      int headDim,
      float scale,
      float[] out,
      int outAt) {
    int r0 = rowOffset;
    int r1 = stride + rowOffset;
    int r2 = 2 * stride + rowOffset;
    int r3 = 3 * stride + rowOffset;
    int o = outAt;
    int step = 2 * KEY_BLOCK;
    int j = 0;
    // two vectors of keys at a time: 8 independent FMA chains hide the FMA latency, and each
    // broadcast of a query value serves 2 vectors
    for (; j <= count - 2 * L; j += 2 * L) {
      FloatVector a00 = FloatVector.zero(S);
      FloatVector a01 = FloatVector.zero(S);
      FloatVector a10 = FloatVector.zero(S);
      FloatVector a11 = FloatVector.zero(S);
      FloatVector a20 = FloatVector.zero(S);
      FloatVector a21 = FloatVector.zero(S);
      FloatVector a30 = FloatVector.zero(S);
      FloatVector a31 = FloatVector.zero(S);
      for (int c = 0; c < headDim; c++) {
        int at = tAt + c * seq + j0 + j;
        FloatVector k0 = FloatVector.fromArray(S, t, at);
        FloatVector k1 = FloatVector.fromArray(S, t, at + L);
        FloatVector b0 = FloatVector.broadcast(S, rows[r0 + c]);
        FloatVector b1 = FloatVector.broadcast(S, rows[r1 + c]);
        FloatVector b2 = FloatVector.broadcast(S, rows[r2 + c]);
        FloatVector b3 = FloatVector.broadcast(S, rows[r3 + c]);
        a00 = k0.fma(b0, a00);
        a01 = k1.fma(b0, a01);
        a10 = k0.fma(b1, a10);
        a11 = k1.fma(b1, a11);
        a20 = k0.fma(b2, a20);
        a21 = k1.fma(b2, a21);
        a30 = k0.fma(b3, a30);
        a31 = k1.fma(b3, a31);
      }
      a00.mul(scale).intoArray(out, o + j);
      a01.mul(scale).intoArray(out, o + j + L);
      a10.mul(scale).intoArray(out, o + step + j);
      a11.mul(scale).intoArray(out, o + step + j + L);
      a20.mul(scale).intoArray(out, o + 2 * step + j);
      a21.mul(scale).intoArray(out, o + 2 * step + j + L);
      a30.mul(scale).intoArray(out, o + 3 * step + j);
      a31.mul(scale).intoArray(out, o + 3 * step + j + L);
    }
    for (; j <= count - L; j += L) {
      FloatVector a0 = FloatVector.zero(S);
      FloatVector a1 = FloatVector.zero(S);
      FloatVector a2 = FloatVector.zero(S);
      FloatVector a3 = FloatVector.zero(S);
      for (int c = 0; c < headDim; c++) {
        FloatVector kv = FloatVector.fromArray(S, t, tAt + c * seq + j0 + j);
        a0 = kv.fma(FloatVector.broadcast(S, rows[r0 + c]), a0);
        a1 = kv.fma(FloatVector.broadcast(S, rows[r1 + c]), a1);
        a2 = kv.fma(FloatVector.broadcast(S, rows[r2 + c]), a2);
        a3 = kv.fma(FloatVector.broadcast(S, rows[r3 + c]), a3);
      }
      a0.mul(scale).intoArray(out, o + j);
      a1.mul(scale).intoArray(out, o + step + j);
      a2.mul(scale).intoArray(out, o + 2 * step + j);
      a3.mul(scale).intoArray(out, o + 3 * step + j);
    }
    for (; j < count; j++) {
      float s0 = 0;
      float s1 = 0;
      float s2 = 0;
      float s3 = 0;
      for (int c = 0; c < headDim; c++) {
        float kv = t[tAt + c * seq + j0 + j];
        s0 += rows[r0 + c] * kv;
        s1 += rows[r1 + c] * kv;
        s2 += rows[r2 + c] * kv;
        s3 += rows[r3 + c] * kv;
      }
      out[o + j] = s0 * scale;
      out[o + step + j] = s1 * scale;
      out[o + 2 * step + j] = s2 * scale;
      out[o + 3 * step + j] = s3 * scale;
    }
  }

  /** {@code x[at..at + n) *= factor}. */
  private static void scaleArray(float[] x, int at, int n, float factor) {
    for (int c = at; c < at + n; c++) {
      x[c] *= factor;
    }
  }
}
