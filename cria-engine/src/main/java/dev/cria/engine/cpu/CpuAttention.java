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
 * them once. Both take ROWS query rows at a time, so each load of a key or a value serves all of
 * them; the helpers that share those loads are written out for exactly four rows, which is much of
 * this file's length. A task runs on one thread, so the bits do not depend on the thread count.
 * Per-thread scratch is preallocated and grown only when a larger shape arrives; each method checks
 * the dtypes of its views first.
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
          float[] scores = s.c(2 * KEY_BLOCK * ROWS); // per row r at r * 2 * KEY_BLOCK
          float[] acc = s.d(ROWS * headDim);
          float[] qs = s.e(ROWS * headDim);
          float[] max = new float[ROWS];
          float[] sum = new float[ROWS];
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
            // ROWS query rows at a time share every load of a key and a value; rows past the end of
            // the sequence are zero and their results are dropped.
            for (int i0 = 0; i0 < seq; i0 += ROWS) {
              int rowsHere = Math.min(ROWS, seq - i0);
              java.util.Arrays.fill(qs, 0, ROWS * headDim, 0f);
              java.util.Arrays.fill(acc, 0, ROWS * headDim, 0f);
              java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
              java.util.Arrays.fill(sum, 0f);
              for (int r = 0; r < rowsHere; r++) {
                long qRow = qOff + (((long) b * seq + i0 + r) * heads + h) * headDim;
                MemorySegment.copy(q, JAVA_FLOAT, qRow * 4, qs, r * headDim, headDim);
              }
              int last = i0 + rowsHere - 1;
              for (int j0 = 0; j0 <= last; j0 += KEY_BLOCK) {
                int countMax = Math.min(KEY_BLOCK, last + 1 - j0);
                rowsTimesKeys(qs, headDim, 0, kT, 0, seq, j0, countMax, headDim, scale, scores, 0);
                for (int r = 0; r < ROWS; r++) {
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
                accumulateValues(acc, headDim, vs, j0, countMax, scores);
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
   * {@code acc_r += p_rj v_(j0+j)} for the ROWS rows and j in [0, count), in increasing j (the
   * order of the online softmax's blocks, so the sums do not depend on how this is blocked): two
   * vectors of columns at a time, whose 8 accumulators stay in registers over all the keys, so each
   * key costs two loads of v, four broadcasts and eight FMAs, and no loads or stores of {@code
   * acc}.
   */
  private static void accumulateValues(
      float[] acc, int headDim, float[] vs, int j0, int count, float[] p) {
    int r1 = headDim;
    int r2 = 2 * headDim;
    int r3 = 3 * headDim;
    int c = 0;
    for (; c <= headDim - 2 * L; c += 2 * L) {
      FloatVector a00 = FloatVector.fromArray(S, acc, c);
      FloatVector a01 = FloatVector.fromArray(S, acc, c + L);
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
        FloatVector p0 = FloatVector.broadcast(S, p[j]);
        FloatVector p1 = FloatVector.broadcast(S, p[2 * KEY_BLOCK + j]);
        FloatVector p2 = FloatVector.broadcast(S, p[4 * KEY_BLOCK + j]);
        FloatVector p3 = FloatVector.broadcast(S, p[6 * KEY_BLOCK + j]);
        a00 = v0.fma(p0, a00);
        a01 = v1.fma(p0, a01);
        a10 = v0.fma(p1, a10);
        a11 = v1.fma(p1, a11);
        a20 = v0.fma(p2, a20);
        a21 = v1.fma(p2, a21);
        a30 = v0.fma(p3, a30);
        a31 = v1.fma(p3, a31);
      }
      a00.intoArray(acc, c);
      a01.intoArray(acc, c + L);
      a10.intoArray(acc, r1 + c);
      a11.intoArray(acc, r1 + c + L);
      a20.intoArray(acc, r2 + c);
      a21.intoArray(acc, r2 + c + L);
      a30.intoArray(acc, r3 + c);
      a31.intoArray(acc, r3 + c + L);
    }
    for (; c <= headDim - L; c += L) {
      FloatVector a0 = FloatVector.fromArray(S, acc, c);
      FloatVector a1 = FloatVector.fromArray(S, acc, r1 + c);
      FloatVector a2 = FloatVector.fromArray(S, acc, r2 + c);
      FloatVector a3 = FloatVector.fromArray(S, acc, r3 + c);
      for (int j = 0; j < count; j++) {
        FloatVector v0 = FloatVector.fromArray(S, vs, (j0 + j) * headDim + c);
        a0 = v0.fma(FloatVector.broadcast(S, p[j]), a0);
        a1 = v0.fma(FloatVector.broadcast(S, p[2 * KEY_BLOCK + j]), a1);
        a2 = v0.fma(FloatVector.broadcast(S, p[4 * KEY_BLOCK + j]), a2);
        a3 = v0.fma(FloatVector.broadcast(S, p[6 * KEY_BLOCK + j]), a3);
      }
      a0.intoArray(acc, c);
      a1.intoArray(acc, r1 + c);
      a2.intoArray(acc, r2 + c);
      a3.intoArray(acc, r3 + c);
    }
    for (; c < headDim; c++) {
      for (int j = 0; j < count; j++) {
        float vc = vs[(j0 + j) * headDim + c];
        acc[c] += p[j] * vc;
        acc[r1 + c] += p[2 * KEY_BLOCK + j] * vc;
        acc[r2 + c] += p[4 * KEY_BLOCK + j] * vc;
        acc[r3 + c] += p[6 * KEY_BLOCK + j] * vc;
      }
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
          // kT and vT transposed [c * seq + j]; dkv holds dk then dv rows [j * hd + c]
          float[] kT = s.a(2 * headDim * seq);
          int vT = headDim * seq;
          float[] kv = s.b(4 * seq * headDim); // k rows, then dk rows, then dv rows
          int dkBase = seq * headDim;
          int dvBase = 2 * seq * headDim;
          float[] p = s.c(2 * KEY_BLOCK * ROWS); // per row: p, then ds
          float[] rows = s.d(3 * headDim * ROWS); // per row: q_i, dO_i, dq_i
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
          float[] di = new float[ROWS];
          float[] rowLse = new float[ROWS];
          int stride = 3 * headDim; // per row: q, dO, dq
          for (int g = 0; g < group; g++) {
            int h = kh * group + g;
            // ROWS query rows at a time, so each key's dk/dv row is loaded and stored once
            // for all of them; rows past the end of the sequence stay zero and contribute nothing.
            for (int i0 = 0; i0 < seq; i0 += ROWS) {
              int rowsHere = Math.min(ROWS, seq - i0);
              java.util.Arrays.fill(rows, 0, ROWS * stride, 0f);
              for (int r = 0; r < rowsHere; r++) {
                long row = (((long) b * seq + i0 + r) * heads + h) * headDim;
                MemorySegment.copy(q, JAVA_FLOAT, (qOff + row) * 4, rows, r * stride, headDim);
                MemorySegment.copy(
                    dOut, JAVA_FLOAT, (dOutOff + row) * 4, rows, r * stride + headDim, headDim);
                float d = 0;
                for (int c = 0; c < headDim; c++) {
                  d +=
                      rows[r * stride + headDim + c] * out.getAtIndex(JAVA_FLOAT, outOff + row + c);
                }
                di[r] = d;
                rowLse[r] =
                    lse.getAtIndex(JAVA_FLOAT, lseOff + ((long) b * heads + h) * seq + i0 + r);
              }
              int last = i0 + rowsHere - 1;
              for (int j0 = 0; j0 <= last; j0 += KEY_BLOCK) {
                int countMax = Math.min(KEY_BLOCK, last + 1 - j0);
                // scores (scale q·k) into each row's p, and dp = dO·v into its ds slot, for all
                // rows at once
                rowsTimesKeys(rows, stride, 0, kT, 0, seq, j0, countMax, headDim, scale, p, 0);
                rowsTimesKeys(
                    rows, stride, headDim, kT, vT, seq, j0, countMax, headDim, 1f, p, KEY_BLOCK);
                for (int r = 0; r < ROWS; r++) {
                  int pAt = r * 2 * KEY_BLOCK;
                  int dsAt = pAt + KEY_BLOCK;
                  int count = r < rowsHere ? Math.min(countMax, i0 + r + 1 - j0) : 0;
                  if (count > 0) {
                    // p = exp(scale q·k - lse); ds = p (dp - D) scale
                    expInPlace(p, pAt, count, rowLse[r]);
                    float dr = di[r];
                    int j = 0;
                    for (; j <= count - L; j += L) {
                      FloatVector pv = FloatVector.fromArray(S, p, pAt + j);
                      FloatVector.fromArray(S, p, dsAt + j)
                          .sub(dr)
                          .mul(pv)
                          .mul(scale)
                          .intoArray(p, dsAt + j);
                    }
                    for (; j < count; j++) {
                      p[dsAt + j] = p[pAt + j] * (p[dsAt + j] - dr) * scale;
                    }
                  }
                  java.util.Arrays.fill(p, pAt + Math.max(count, 0), pAt + countMax, 0f);
                  java.util.Arrays.fill(p, dsAt + Math.max(count, 0), dsAt + countMax, 0f);
                }
                accumulateKeys(rows, stride, kv, j0, countMax, dkBase, dvBase, headDim, p);
              }
              for (int r = 0; r < rowsHere; r++) {
                long row = (((long) b * seq + i0 + r) * heads + h) * headDim;
                MemorySegment.copy(
                    rows, r * stride + 2 * headDim, dq, JAVA_FLOAT, (dqOff + row) * 4, headDim);
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

  /**
   * For keys {@code j0 + j}, j in [0, count), of the current block and the ROWS rows: {@code dq_r
   * += ds_rj k_j}, {@code dk_j += sum_r ds_rj q_r}, {@code dv_j += sum_r p_rj dO_r}, each sum in
   * increasing j and r. A vector of columns at a time: the rows' dq accumulators, q and dO stay in
   * registers over all the keys, so a key costs its k, dk and dv vectors and no loads or stores of
   * the rows.
   */
  private static void accumulateKeys(
      float[] rows,
      int stride,
      float[] kv,
      int j0,
      int count,
      int dkBase,
      int dvBase,
      int headDim,
      float[] p) {
    int hd = headDim;
    int c = 0;
    for (; c <= headDim - L; c += L) {
      FloatVector dq0 = FloatVector.fromArray(S, rows, 2 * hd + c);
      FloatVector dq1 = FloatVector.fromArray(S, rows, stride + 2 * hd + c);
      FloatVector dq2 = FloatVector.fromArray(S, rows, 2 * stride + 2 * hd + c);
      FloatVector dq3 = FloatVector.fromArray(S, rows, 3 * stride + 2 * hd + c);
      FloatVector q0 = FloatVector.fromArray(S, rows, c);
      FloatVector q1 = FloatVector.fromArray(S, rows, stride + c);
      FloatVector q2 = FloatVector.fromArray(S, rows, 2 * stride + c);
      FloatVector q3 = FloatVector.fromArray(S, rows, 3 * stride + c);
      FloatVector o0 = FloatVector.fromArray(S, rows, hd + c);
      FloatVector o1 = FloatVector.fromArray(S, rows, stride + hd + c);
      FloatVector o2 = FloatVector.fromArray(S, rows, 2 * stride + hd + c);
      FloatVector o3 = FloatVector.fromArray(S, rows, 3 * stride + hd + c);
      for (int j = 0; j < count; j++) {
        int at = (j0 + j) * hd + c;
        float s0 = p[KEY_BLOCK + j];
        float s1 = p[3 * KEY_BLOCK + j];
        float s2 = p[5 * KEY_BLOCK + j];
        float s3 = p[7 * KEY_BLOCK + j];
        FloatVector kc = FloatVector.fromArray(S, kv, at);
        dq0 = dq0.add(kc.mul(s0));
        dq1 = dq1.add(kc.mul(s1));
        dq2 = dq2.add(kc.mul(s2));
        dq3 = dq3.add(kc.mul(s3));
        FloatVector dkc = FloatVector.fromArray(S, kv, dkBase + at);
        dkc = q0.fma(FloatVector.broadcast(S, s0), dkc);
        dkc = q1.fma(FloatVector.broadcast(S, s1), dkc);
        dkc = q2.fma(FloatVector.broadcast(S, s2), dkc);
        dkc = q3.fma(FloatVector.broadcast(S, s3), dkc);
        dkc.intoArray(kv, dkBase + at);
        FloatVector dvc = FloatVector.fromArray(S, kv, dvBase + at);
        dvc = o0.fma(FloatVector.broadcast(S, p[j]), dvc);
        dvc = o1.fma(FloatVector.broadcast(S, p[2 * KEY_BLOCK + j]), dvc);
        dvc = o2.fma(FloatVector.broadcast(S, p[4 * KEY_BLOCK + j]), dvc);
        dvc = o3.fma(FloatVector.broadcast(S, p[6 * KEY_BLOCK + j]), dvc);
        dvc.intoArray(kv, dvBase + at);
      }
      dq0.intoArray(rows, 2 * hd + c);
      dq1.intoArray(rows, stride + 2 * hd + c);
      dq2.intoArray(rows, 2 * stride + 2 * hd + c);
      dq3.intoArray(rows, 3 * stride + 2 * hd + c);
    }
    for (; c < headDim; c++) {
      for (int j = 0; j < count; j++) {
        int at = (j0 + j) * hd + c;
        float p0 = p[j];
        float p1 = p[2 * KEY_BLOCK + j];
        float p2 = p[4 * KEY_BLOCK + j];
        float p3 = p[6 * KEY_BLOCK + j];
        float s0 = p[KEY_BLOCK + j];
        float s1 = p[3 * KEY_BLOCK + j];
        float s2 = p[5 * KEY_BLOCK + j];
        float s3 = p[7 * KEY_BLOCK + j];
        float kc = kv[at];
        rows[2 * hd + c] += s0 * kc;
        rows[stride + 2 * hd + c] += s1 * kc;
        rows[2 * stride + 2 * hd + c] += s2 * kc;
        rows[3 * stride + 2 * hd + c] += s3 * kc;
        kv[dkBase + at] +=
            s0 * rows[c]
                + s1 * rows[stride + c]
                + s2 * rows[2 * stride + c]
                + s3 * rows[3 * stride + c];
        kv[dvBase + at] +=
            p0 * rows[hd + c]
                + p1 * rows[stride + hd + c]
                + p2 * rows[2 * stride + hd + c]
                + p3 * rows[3 * stride + hd + c];
      }
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
