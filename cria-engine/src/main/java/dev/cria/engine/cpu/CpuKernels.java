package dev.cria.engine.cpu;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.cria.engine.backend.AdamWUpdate;
import dev.cria.engine.backend.AttentionShape;
import dev.cria.engine.backend.Bf16Matmul;
import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.backend.RopeTable;
import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Map;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fast kernels: the Vector API on every core of a {@link Parallel} pool, the cache-blocked
 * {@link Gemm} for the linear layers ({@link CpuBf16Linear} where the weights are bf16), and
 * attention that walks keys in blocks with an online softmax, so no T x T score matrix is ever
 * held. Per-thread scratch is preallocated and grown only when a larger shape arrives. Each kernel
 * checks the dtypes of its views, then works on their buffers and offsets.
 *
 * <p>This file is long because attention's forward and backward passes share its per-thread scratch
 * and the four-row helpers they are written around; the decoding kernels, AdamW and the bf16 linear
 * layers, which share nothing with them, live in {@link CpuDecode}, {@link CpuAdamW} and {@link
 * CpuBf16Linear}.
 */
public final class CpuKernels implements Kernels {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  private static final FloatVector ONE = FloatVector.broadcast(S, 1f);

  /** Keys per block in attention's online softmax. */
  private static final int KEY_BLOCK = 128;

  /**
   * Query rows that attention walks the keys with together (the helpers that share loads across
   * rows are written out for exactly four).
   */
  private static final int ROWS = 4;

  /** Elements per task for elementwise kernels. */
  private static final int ELEMENT_CHUNK = 1 << 15;

  private final Parallel parallel;
  private final Scratch[] scratch;
  private final CpuDecode decode;
  private final CpuAdamW adamw;
  private final CpuBf16Linear bf16;
  private volatile Map<GemmShape, Gemm.Blocking> blockings = Map.of();

  public CpuKernels(Parallel parallel) {
    this.parallel = parallel;
    this.decode = new CpuDecode(parallel);
    this.adamw = new CpuAdamW(parallel);
    this.bf16 = new CpuBf16Linear(parallel);
    this.scratch = new Scratch[parallel.threads()];
    for (int i = 0; i < scratch.length; i++) {
      scratch[i] = new Scratch();
    }
  }

  @Override
  public String name() {
    return "cpu(" + parallel.threads() + " threads, " + S.vectorBitSize() + "-bit vectors)";
  }

  public Parallel parallel() {
    return parallel;
  }

  /**
   * Runs {@code blockings} for their shapes from now on (tuned by {@link GemmTuner}); the other
   * shapes keep {@link Gemm#DEFAULT}. Results are the same bits either way.
   */
  void useBlockings(Map<GemmShape, Gemm.Blocking> blockings) {
    this.blockings = Map.copyOf(blockings);
  }

  /**
   * The blocking for one product of a linear layer: the tuned one for its shape, else the default.
   */
  private Gemm.Blocking blocking(GemmShape.LinearProduct product, int n, int in, int out) {
    Map<GemmShape, Gemm.Blocking> tuned = blockings;
    if (tuned.isEmpty() || n < 1 || in < 1 || out < 1) {
      return Gemm.DEFAULT;
    }
    return tuned.getOrDefault(product.shape(n, in, out), Gemm.DEFAULT);
  }

  /** Per-thread working memory. */
  private static final class Scratch {
    float[] a = new float[0];
    float[] b = new float[0];
    float[] c = new float[0];
    float[] d = new float[0];
    float[] e = new float[0];
    float[] norm = new float[0];
    double sum;

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

  // ---- linear layers: GEMM on f32 weights, CpuBf16Linear on bf16 ones ---------------------------

  @Override
  public void linearForward(View y, View x, View w, int n, int in, int out) {
    f32(y, "y");
    switch (w.dtype()) {
      case F32 ->
          Gemm.sgemm(
              blocking(GemmShape.LinearProduct.FORWARD, n, in, out),
              parallel,
              false,
              true,
              n,
              out,
              in,
              1f,
              f32(x, "x"),
              x.offset(),
              in,
              w.buffer(),
              w.offset(),
              in,
              0f,
              y.buffer(),
              y.offset(),
              out);
      case BF16 -> bf16.forward(y, x, w, n, in, out);
      default -> throw unsupportedWeights(w);
    }
  }

  @Override
  public void linearBackward(
      View dx, boolean overwriteDx, View dw, View dy, View x, View w, int n, int in, int out) {
    f32(dx, "dx");
    f32(dw, "dw");
    switch (w.dtype()) {
      case F32 -> {
        f32(dy, "dy");
        f32(x, "x");
        Gemm.sgemm(
            blocking(GemmShape.LinearProduct.INPUT_GRADIENT, n, in, out),
            parallel,
            false,
            false,
            n,
            in,
            out,
            1f,
            dy.buffer(),
            dy.offset(),
            out,
            w.buffer(),
            w.offset(),
            in,
            overwriteDx ? 0f : 1f,
            dx.buffer(),
            dx.offset(),
            in);
        Gemm.sgemm(
            blocking(GemmShape.LinearProduct.WEIGHT_GRADIENT, n, in, out),
            parallel,
            true,
            false,
            out,
            in,
            n,
            1f,
            dy.buffer(),
            dy.offset(),
            out,
            x.buffer(),
            x.offset(),
            in,
            1f,
            dw.buffer(),
            dw.offset(),
            in);
      }
      case BF16 -> bf16.backward(dx, overwriteDx, dw, dy, x, w, n, in, out);
      default -> throw unsupportedWeights(w);
    }
  }

  /** For a dtype of weights that no linear kernel here multiplies (one added to DType later). */
  private static IllegalArgumentException unsupportedWeights(View w) {
    return new IllegalArgumentException("w must be f32 or bf16, got " + w.dtype().shortName());
  }

  @Override
  public void roundToBf16(View dst, View src, long count) {
    dst.require(DType.BF16, "dst");
    Bf16Vectors.round(parallel, dst.buffer(), dst.offset(), f32(src, "src"), src.offset(), count);
  }

  @Override
  public String bf16Matmul() {
    return bf16.matmul().description();
  }

  /** The bf16 product the linear layers of mixed precision run on, opened now if it was not yet. */
  Bf16Matmul bf16Product() {
    return bf16.matmul();
  }

  /** Frees the bf16 product's native resources and scratch (the backend's close). */
  void close() {
    bf16.close();
  }

  // ---- embeddings -------------------------------------------------------------------------------

  @Override
  public void embeddingForward(View outView, View tableView, int[] tokens, int n, int d) {
    MemorySegment out = f32(outView, "out");
    long outOff = outView.offset();
    MemorySegment table = f32(tableView, "table");
    long tableOff = tableView.offset();
    parallel.forRange(
        0,
        n,
        (from, to, worker) -> {
          for (int i = from; i < to; i++) {
            MemorySegment.copy(
                table,
                (tableOff + (long) tokens[i] * d) * 4,
                out,
                (outOff + (long) i * d) * 4,
                d * 4L);
          }
        });
  }

  @Override
  public void embeddingBackward(View dTableView, View dOutView, int[] tokens, int n, int d) {
    MemorySegment dTable = f32(dTableView, "dTable");
    long dTableOff = dTableView.offset();
    MemorySegment dOut = f32(dOutView, "dOut");
    long dOutOff = dOutView.offset();
    // Tokens repeat, so rows collide: split the columns among threads instead.
    int blocks = Math.max(1, Math.min(parallel.threads(), d / L));
    parallel.forRange(
        0,
        blocks,
        (fromBlock, toBlock, worker) -> {
          int c0 = (int) ((long) d * fromBlock / blocks);
          int c1 = (int) ((long) d * toBlock / blocks);
          for (int i = 0; i < n; i++) {
            long src = dOutOff + (long) i * d;
            long dst = dTableOff + (long) tokens[i] * d;
            axpy(dTable, dst + c0, dOut, src + c0, c1 - c0, 1f);
          }
        });
  }

  // ---- RMSNorm ----------------------------------------------------------------------------------

  @Override
  public void rmsNormForward(
      View outView, View rstdView, View xView, View wView, int n, int d, float eps) {
    MemorySegment out = outView.buffer();
    long outOff = outView.offset();
    boolean bf16Out = outView.dtype() == DType.BF16;
    MemorySegment rstd = f32(rstdView, "rstd");
    long rstdOff = rstdView.offset();
    MemorySegment x = f32(xView, "x");
    long xOff = xView.offset();
    MemorySegment w = f32(wView, "w");
    long wOff = wView.offset();
    parallel.forRange(
        0,
        n,
        (from, to, worker) -> {
          float[] weight = scratch[worker].a(d);
          MemorySegment.copy(w, JAVA_FLOAT, wOff * 4, weight, 0, d);
          for (int i = from; i < to; i++) {
            long row = xOff + (long) i * d;
            float r = (float) (1.0 / Math.sqrt(dot(x, row, x, row, d) / d + eps));
            rstd.setAtIndex(JAVA_FLOAT, rstdOff + i, r);
            long o = outOff + (long) i * d;
            int c = 0;
            for (; c <= d - L; c += L) {
              FloatVector v =
                  FloatVector.fromMemorySegment(S, x, (row + c) * 4, NATIVE)
                      .mul(r)
                      .mul(FloatVector.fromArray(S, weight, c));
              if (bf16Out) {
                Bf16Vectors.store(v, out, o + c);
              } else {
                v.intoMemorySegment(out, (o + c) * 4, NATIVE);
              }
            }
            for (; c < d; c++) {
              store(out, o + c, x.getAtIndex(JAVA_FLOAT, row + c) * r * weight[c], bf16Out);
            }
          }
        });
  }

  @Override
  public void rmsNormBackward(
      View dxView,
      View dwView,
      View dOutView,
      View xView,
      View wView,
      View rstdView,
      int n,
      int d) {
    MemorySegment dx = f32(dxView, "dx");
    long dxOff = dxView.offset();
    MemorySegment dw = f32(dwView, "dw");
    long dwOff = dwView.offset();
    MemorySegment dOut = f32(dOutView, "dOut");
    long dOutOff = dOutView.offset();
    MemorySegment x = f32(xView, "x");
    long xOff = xView.offset();
    MemorySegment w = f32(wView, "w");
    long wOff = wView.offset();
    MemorySegment rstd = f32(rstdView, "rstd");
    long rstdOff = rstdView.offset();
    for (Scratch s : scratch) {
      if (s.norm.length < d) {
        s.norm = new float[d];
      }
      java.util.Arrays.fill(s.norm, 0, d, 0f);
    }
    parallel.forRange(
        0,
        n,
        (from, to, worker) -> {
          Scratch s = scratch[worker];
          float[] weight = s.a(d);
          MemorySegment.copy(w, JAVA_FLOAT, wOff * 4, weight, 0, d);
          float[] dwPartial = s.norm;
          float[] gw = s.c(d);
          for (int i = from; i < to; i++) {
            long row = (long) i * d;
            float r = rstd.getAtIndex(JAVA_FLOAT, rstdOff + i);
            // gw = dOut * w; dot = sum gw * x
            FloatVector acc = FloatVector.zero(S);
            int c = 0;
            for (; c <= d - L; c += L) {
              FloatVector g =
                  FloatVector.fromMemorySegment(S, dOut, (dOutOff + row + c) * 4, NATIVE);
              FloatVector xv = FloatVector.fromMemorySegment(S, x, (xOff + row + c) * 4, NATIVE);
              FloatVector gwv = g.mul(FloatVector.fromArray(S, weight, c));
              gwv.intoArray(gw, c);
              acc = gwv.fma(xv, acc);
              FloatVector.fromArray(S, dwPartial, c).add(g.mul(xv).mul(r)).intoArray(dwPartial, c);
            }
            float dotSum = VectorMath.sum(acc);
            for (; c < d; c++) {
              float g = dOut.getAtIndex(JAVA_FLOAT, dOutOff + row + c);
              float xv = x.getAtIndex(JAVA_FLOAT, xOff + row + c);
              gw[c] = g * weight[c];
              dotSum += gw[c] * xv;
              dwPartial[c] += g * xv * r;
            }
            float k = r * r * r * dotSum / d;
            c = 0;
            for (; c <= d - L; c += L) {
              FloatVector xv = FloatVector.fromMemorySegment(S, x, (xOff + row + c) * 4, NATIVE);
              FloatVector old = FloatVector.fromMemorySegment(S, dx, (dxOff + row + c) * 4, NATIVE);
              FloatVector.fromArray(S, gw, c)
                  .mul(r)
                  .sub(xv.mul(k))
                  .add(old)
                  .intoMemorySegment(dx, (dxOff + row + c) * 4, NATIVE);
            }
            for (; c < d; c++) {
              float xv = x.getAtIndex(JAVA_FLOAT, xOff + row + c);
              long at = dxOff + row + c;
              dx.setAtIndex(JAVA_FLOAT, at, dx.getAtIndex(JAVA_FLOAT, at) + gw[c] * r - xv * k);
            }
          }
        });
    // Reduce the per-thread weight gradients (threads that got no rows left theirs at zero).
    for (Scratch s : scratch) {
      for (int c = 0; c < d; c++) {
        long at = dwOff + c;
        dw.setAtIndex(JAVA_FLOAT, at, dw.getAtIndex(JAVA_FLOAT, at) + s.norm[c]);
      }
    }
  }

  // ---- RoPE -------------------------------------------------------------------------------------

  @Override
  public void rope(
      View xView,
      RopeTable table,
      int batch,
      int seq,
      int heads,
      int firstPosition,
      boolean inverse) {
    MemorySegment x = f32(xView, "x");
    long xOff = xView.offset();
    int half = table.half();
    int hd = 2 * half;
    float[] cos = table.cosArray();
    float[] sin = table.sinArray();
    parallel.forRange(
        0,
        batch * seq,
        (from, to, worker) -> {
          float[] buffer = scratch[worker].a(hd);
          for (int row = from; row < to; row++) {
            int t = firstPosition + row % seq;
            for (int h = 0; h < heads; h++) {
              long base = xOff + ((long) row * heads + h) * hd;
              MemorySegment.copy(x, JAVA_FLOAT, base * 4, buffer, 0, hd);
              for (int j = 0; j < half; j++) {
                float c = cos[t * half + j];
                float s = inverse ? -sin[t * half + j] : sin[t * half + j];
                float a = buffer[j];
                float b = buffer[j + half];
                buffer[j] = a * c - b * s;
                buffer[j + half] = b * c + a * s;
              }
              MemorySegment.copy(buffer, 0, x, JAVA_FLOAT, base * 4, hd);
            }
          }
        });
  }

  // ---- attention --------------------------------------------------------------------------------

  @Override
  public void attentionForward(
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

  /** {@code x[j] = exp(x[j] - shift)} for j in [0, count); returns their sum. */
  private static float expInPlace(float[] x, int count, float shift) {
    return expInPlace(x, 0, count, shift);
  }

  /** {@code x[at + j] = exp(x[at + j] - shift)} for j in [0, count); returns their sum. */
  private static float expInPlace(float[] x, int at, int count, float shift) {
    FloatVector total = FloatVector.zero(S);
    int j = 0;
    for (; j <= count - L; j += L) {
      FloatVector e = VectorMath.exp(FloatVector.fromArray(S, x, at + j).sub(shift));
      e.intoArray(x, at + j);
      total = total.add(e);
    }
    float sum = VectorMath.sum(total);
    for (; j < count; j++) {
      x[at + j] = VectorMath.exp(x[at + j] - shift);
      sum += x[at + j];
    }
    return sum;
  }

  @Override
  public void attentionBackward(
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

  // ---- SwiGLU -----------------------------------------------------------------------------------

  @Override
  public void swigluForward(View hView, View gateView, View upView, long count) {
    MemorySegment h = hView.buffer();
    long hOff = hView.offset();
    boolean bf16Out = hView.dtype() == DType.BF16;
    MemorySegment gate = f32(gateView, "gate");
    long gateOff = gateView.offset();
    MemorySegment up = f32(upView, "up");
    long upOff = upView.offset();
    forChunks(
        count,
        (from, to) -> {
          long i = from;
          for (; i <= to - L; i += L) {
            FloatVector g = FloatVector.fromMemorySegment(S, gate, (gateOff + i) * 4, NATIVE);
            FloatVector u = FloatVector.fromMemorySegment(S, up, (upOff + i) * 4, NATIVE);
            FloatVector sig = ONE.div(VectorMath.exp(g.neg()).add(1f));
            FloatVector v = g.mul(sig).mul(u);
            if (bf16Out) {
              Bf16Vectors.store(v, h, hOff + i);
            } else {
              v.intoMemorySegment(h, (hOff + i) * 4, NATIVE);
            }
          }
          for (; i < to; i++) {
            float g = gate.getAtIndex(JAVA_FLOAT, gateOff + i);
            store(
                h,
                hOff + i,
                g / (1f + VectorMath.exp(-g)) * up.getAtIndex(JAVA_FLOAT, upOff + i),
                bf16Out);
          }
        });
  }

  @Override
  public void swigluBackward(
      View dGateView, View dUpView, View dhView, View gateView, View upView, long count) {
    MemorySegment dGate = dGateView.buffer();
    long dGateOff = dGateView.offset();
    boolean bf16Gate = dGateView.dtype() == DType.BF16;
    MemorySegment dUp = dUpView.buffer();
    long dUpOff = dUpView.offset();
    boolean bf16Up = dUpView.dtype() == DType.BF16;
    MemorySegment dh = f32(dhView, "dh");
    long dhOff = dhView.offset();
    MemorySegment gate = f32(gateView, "gate");
    long gateOff = gateView.offset();
    MemorySegment up = f32(upView, "up");
    long upOff = upView.offset();
    forChunks(
        count,
        (from, to) -> {
          long i = from;
          for (; i <= to - L; i += L) {
            FloatVector g = FloatVector.fromMemorySegment(S, gate, (gateOff + i) * 4, NATIVE);
            FloatVector u = FloatVector.fromMemorySegment(S, up, (upOff + i) * 4, NATIVE);
            FloatVector d = FloatVector.fromMemorySegment(S, dh, (dhOff + i) * 4, NATIVE);
            FloatVector sig = ONE.div(VectorMath.exp(g.neg()).add(1f));
            FloatVector silu = g.mul(sig);
            // silu'(g) = sig * (1 + g * (1 - sig))
            FloatVector dsilu = sig.mul(g.mul(sig.neg().add(1f)).add(1f));
            FloatVector dg = d.mul(u).mul(dsilu);
            FloatVector du = d.mul(silu);
            if (bf16Gate) {
              Bf16Vectors.store(dg, dGate, dGateOff + i);
            } else {
              dg.intoMemorySegment(dGate, (dGateOff + i) * 4, NATIVE);
            }
            if (bf16Up) {
              Bf16Vectors.store(du, dUp, dUpOff + i);
            } else {
              du.intoMemorySegment(dUp, (dUpOff + i) * 4, NATIVE);
            }
          }
          for (; i < to; i++) {
            float g = gate.getAtIndex(JAVA_FLOAT, gateOff + i);
            float u = up.getAtIndex(JAVA_FLOAT, upOff + i);
            float d = dh.getAtIndex(JAVA_FLOAT, dhOff + i);
            float sig = 1f / (1f + VectorMath.exp(-g));
            store(dGate, dGateOff + i, d * u * sig * (1 + g * (1 - sig)), bf16Gate);
            store(dUp, dUpOff + i, d * g * sig, bf16Up);
          }
        });
  }

  // ---- cross-entropy ----------------------------------------------------------------------------

  @Override
  public double crossEntropy(View logitsView, int[] targets, int n, int vocab, float gradScale) {
    MemorySegment logits = f32(logitsView, "logits");
    long logitsOff = logitsView.offset();
    for (Scratch s : scratch) {
      s.sum = 0;
    }
    parallel.forRange(
        0,
        n,
        (from, to, worker) -> {
          Scratch s = scratch[worker];
          float[] row = s.a(vocab);
          double loss = 0;
          for (int i = from; i < to; i++) {
            long at = logitsOff + (long) i * vocab;
            if (targets[i] < 0) {
              logits.asSlice(at * 4, vocab * 4L).fill((byte) 0);
              continue;
            }
            MemorySegment.copy(logits, JAVA_FLOAT, at * 4, row, 0, vocab);
            float max = max(row, vocab);
            float targetLogit = row[targets[i]] - max;
            float sum = expInPlace(row, vocab, max);
            loss += Math.log(sum) - targetLogit;
            float factor = gradScale / sum;
            int c = 0;
            for (; c <= vocab - L; c += L) {
              FloatVector.fromArray(S, row, c)
                  .mul(factor)
                  .intoMemorySegment(logits, (at + c) * 4, NATIVE);
            }
            for (; c < vocab; c++) {
              logits.setAtIndex(JAVA_FLOAT, at + c, row[c] * factor);
            }
            long t = at + targets[i];
            logits.setAtIndex(JAVA_FLOAT, t, logits.getAtIndex(JAVA_FLOAT, t) - gradScale);
          }
          s.sum += loss;
        });
    double total = 0;
    for (Scratch s : scratch) {
      total += s.sum;
    }
    return total;
  }

  private static float max(float[] x, int count) {
    return max(x, 0, count);
  }

  private static float max(float[] x, int at, int count) {
    FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
    int j = 0;
    for (; j <= count - L; j += L) {
      m = m.max(FloatVector.fromArray(S, x, at + j));
    }
    float max = m.reduceLanes(VectorOperators.MAX);
    for (; j < count; j++) {
      max = Math.max(max, x[at + j]);
    }
    return max;
  }

  // ---- elementwise ------------------------------------------------------------------------------

  @Override
  public void add(View dstView, View srcView, long count) {
    MemorySegment dst = f32(dstView, "dst");
    long dstOff = dstView.offset();
    MemorySegment src = f32(srcView, "src");
    long srcOff = srcView.offset();
    forChunks(count, (from, to) -> axpy(dst, dstOff + from, src, srcOff + from, to - from, 1f));
  }

  @Override
  public double sumOfSquares(View xView, long count) {
    MemorySegment x = f32(xView, "x");
    long off = xView.offset();
    for (Scratch s : scratch) {
      s.sum = 0;
    }
    long chunks = (count + ELEMENT_CHUNK - 1) / ELEMENT_CHUNK;
    parallel.forRange(
        0,
        Math.toIntExact(chunks),
        (from, to, worker) -> {
          double sum = 0;
          for (int chunk = from; chunk < to; chunk++) {
            long start = off + (long) chunk * ELEMENT_CHUNK;
            int length = (int) Math.min(ELEMENT_CHUNK, off + count - start);
            sum += dot(x, start, x, start, length);
          }
          scratch[worker].sum += sum;
        });
    double total = 0;
    for (Scratch s : scratch) {
      total += s.sum;
    }
    return total;
  }

  @Override
  public void scale(View xView, long count, float factor) {
    MemorySegment x = f32(xView, "x");
    long off = xView.offset();
    forChunks(
        count,
        (from, to) -> {
          long i = from;
          for (; i <= to - L; i += L) {
            FloatVector.fromMemorySegment(S, x, (off + i) * 4, NATIVE)
                .mul(factor)
                .intoMemorySegment(x, (off + i) * 4, NATIVE);
          }
          for (; i < to; i++) {
            x.setAtIndex(JAVA_FLOAT, off + i, x.getAtIndex(JAVA_FLOAT, off + i) * factor);
          }
        });
  }

  // ---- decoding and AdamW (in files of their own) ------------------------------------------

  @Override
  public void matVec(View y, View w, View x, int rows, int cols, boolean accumulate) {
    f32(y, "y");
    f32(w, "w");
    f32(x, "x");
    decode.matVec(y, w, x, rows, cols, accumulate);
  }

  @Override
  public void attentionDecode(
      View out,
      View q,
      View keys,
      View values,
      int positions,
      int heads,
      int kvHeads,
      int headDim) {
    f32(out, "out");
    f32(q, "q");
    f32(keys, "keys");
    f32(values, "values");
    decode.attentionDecode(out, q, keys, values, positions, heads, kvHeads, headDim);
  }

  @Override
  public void adamw(View p, View g, View m, View v, long count, AdamWUpdate update) {
    f32(p, "p");
    f32(g, "g");
    f32(m, "m");
    f32(v, "v");
    adamw.update(p, g, m, v, count, update);
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** Stores {@code v} at element {@code i} of {@code s}: fp32, or rounded to bf16. */
  private static void store(MemorySegment s, long i, float v, boolean bf16) {
    if (bf16) {
      s.setAtIndex(Bf16.LAYOUT, i, Bf16.round(v));
    } else {
      s.setAtIndex(JAVA_FLOAT, i, v);
    }
  }

  /** The buffer of {@code view}, an f32 view; else throws naming {@code operand}. */
  private static MemorySegment f32(View view, String operand) {
    return view.require(DType.F32, operand).buffer();
  }

  private interface LongRange {
    void run(long from, long to);
  }

  /** Runs {@code body} over [0, count) in chunks of ELEMENT_CHUNK on all threads. */
  private void forChunks(long count, LongRange body) {
    long chunks = (count + ELEMENT_CHUNK - 1) / ELEMENT_CHUNK;
    parallel.forRange(
        0,
        Math.toIntExact(chunks),
        (from, to, worker) ->
            body.run((long) from * ELEMENT_CHUNK, Math.min(count, (long) to * ELEMENT_CHUNK)));
  }

  /** Dot product of two runs of {@code count} floats, accumulated in float vectors. */
  private static float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int count) {
    FloatVector acc = FloatVector.zero(S);
    int c = 0;
    for (; c <= count - L; c += L) {
      acc =
          FloatVector.fromMemorySegment(S, a, (aOff + c) * 4, NATIVE)
              .fma(FloatVector.fromMemorySegment(S, b, (bOff + c) * 4, NATIVE), acc);
    }
    float sum = VectorMath.sum(acc);
    for (; c < count; c++) {
      sum += a.getAtIndex(JAVA_FLOAT, aOff + c) * b.getAtIndex(JAVA_FLOAT, bOff + c);
    }
    return sum;
  }

  /** {@code dst[dstOff..] += alpha * src[srcOff..]} over {@code count} floats. */
  private static void axpy(
      MemorySegment dst, long dstOff, MemorySegment src, long srcOff, long count, float alpha) {
    FloatVector a = FloatVector.broadcast(S, alpha);
    long c = 0;
    for (; c <= count - L; c += L) {
      FloatVector d = FloatVector.fromMemorySegment(S, dst, (dstOff + c) * 4, NATIVE);
      FloatVector.fromMemorySegment(S, src, (srcOff + c) * 4, NATIVE)
          .fma(a, d)
          .intoMemorySegment(dst, (dstOff + c) * 4, NATIVE);
    }
    for (; c < count; c++) {
      dst.setAtIndex(
          JAVA_FLOAT,
          dstOff + c,
          dst.getAtIndex(JAVA_FLOAT, dstOff + c) + alpha * src.getAtIndex(JAVA_FLOAT, srcOff + c));
    }
  }

  /** {@code acc[0..n) += alpha * src[srcAt..srcAt + n)}. */
  /** {@code dst[dstAt..dstAt + n) += alpha * src[srcAt..srcAt + n)}. */
  private static void scaleArray(float[] x, int at, int n, float factor) {
    for (int c = at; c < at + n; c++) {
      x[c] *= factor;
    }
  }
}
