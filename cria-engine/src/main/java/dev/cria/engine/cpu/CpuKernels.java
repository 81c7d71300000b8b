package dev.cria.engine.cpu;

import static dev.cria.engine.cpu.VectorMath.expInPlace;
import static dev.cria.engine.cpu.VectorMath.max;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.cria.engine.backend.AdamWUpdate;
import dev.cria.engine.backend.AttentionShape;
import dev.cria.engine.backend.Bf16Matmul;
import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.backend.HostBuffers;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.backend.RopeTable;
import dev.cria.engine.backend.StochasticDraws;
import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Map;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fast kernels: the Vector API on every core of a {@link Parallel} pool, the cache-blocked
 * {@link Gemm} for the linear layers ({@link CpuBf16Linear} where the weights are bf16), and
 * attention that walks keys in blocks with an online softmax ({@link CpuAttention}), so no T x T
 * score matrix is ever held. Per-thread scratch is preallocated and grown only when a larger shape
 * arrives. Each kernel checks the dtypes of its views, then works on their buffers and offsets.
 *
 * <p>This file is long because it holds the row-wise and elementwise kernels (embeddings, RMSNorm,
 * RoPE, SwiGLU, cross-entropy, add, sum of squares, scale), several of which share its per-thread
 * scratch, and each writes out a vector loop and a scalar tail, forward and backward side by side.
 * Attention, the decoding kernels, AdamW and the bf16 linear layers, which need none of that
 * scratch, live in {@link CpuAttention}, {@link CpuDecode}, {@link CpuAdamW} and {@link
 * CpuBf16Linear}; this class checks their dtypes where they do not, and delegates.
 */
public final class CpuKernels implements Kernels {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  private static final FloatVector ONE = FloatVector.broadcast(S, 1f);

  /** Elements per task for elementwise kernels. */
  private static final int ELEMENT_CHUNK = 1 << 15;

  private final Parallel parallel;
  private final Scratch[] scratch;
  private final CpuAttention attention;
  private final CpuDecode decode;
  private final CpuAdamW adamw;
  private final CpuBf16Linear bf16;
  private volatile Map<GemmShape, Gemm.Blocking> blockings = Map.of();

  public CpuKernels(Parallel parallel) {
    this.parallel = parallel;
    this.attention = new CpuAttention(parallel);
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
    float[] norm = new float[0];
    double sum;

    float[] a(int n) {
      return a.length >= n ? a : (a = new float[n]);
    }

    float[] b(int n) {
      return b.length >= n ? b : (b = new float[n]);
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
  public void widenBf16(View dst, View src, long count) {
    src.require(DType.BF16, "src");
    Bf16Vectors.widen(parallel, f32(dst, "dst"), dst.offset(), src.buffer(), src.offset(), count);
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
  public void embeddingForward(View outView, View tableView, View tokenIds, int n, int d) {
    int[] tokens = HostBuffers.ids(tokenIds, n, "tokens");
    MemorySegment out = f32(outView, "out");
    long outOff = outView.offset();
    MemorySegment table = f32(tableView, "table");
    long tableOff = tableView.offset();
    parallel.forRange(
        0,
        n,
        (from, to, worker) -> {
          for (int i = from; i < to; i++) {
            if (tokens[i] < 0) {
              out.asSlice((outOff + (long) i * d) * 4, d * 4L).fill((byte) 0);
              continue;
            }
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
  public void embeddingBackward(View dTableView, View dOutView, View tokenIds, int n, int d) {
    int[] tokens = HostBuffers.ids(tokenIds, n, "tokens");
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
            if (tokens[i] < 0) {
              continue;
            }
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
          float[] gw = s.b(d);
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

  // ---- attention (in a file of its own) ---------------------------------------------------------

  @Override
  public void attentionForward(View out, View lse, View q, View k, View v, AttentionShape shape) {
    attention.forward(out, lse, q, k, v, shape);
  }

  @Override
  public void attentionBackward(
      View dq,
      View dk,
      View dv,
      View dOut,
      View q,
      View k,
      View v,
      View out,
      View lse,
      AttentionShape shape) {
    attention.backward(dq, dk, dv, dOut, q, k, v, out, lse, shape);
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
  public double crossEntropy(View logitsView, View targetIds, int n, int vocab, float gradScale) {
    return crossEntropyInto(null, logitsView, targetIds, n, vocab, gradScale);
  }

  @Override
  public double crossEntropy(
      View dLogitsView, View logitsView, View targetIds, int n, int vocab, float gradScale) {
    return crossEntropyInto(
        dLogitsView.require(DType.BF16, "dLogits"), logitsView, targetIds, n, vocab, gradScale);
  }

  /** The gradient over the logits ({@code dLogitsView} null) or into bf16 {@code dLogitsView}. */
  private double crossEntropyInto(
      View dLogitsView, View logitsView, View targetIds, int n, int vocab, float gradScale) {
    int[] targets = HostBuffers.ids(targetIds, n, "targets");
    MemorySegment logits = f32(logitsView, "logits");
    long logitsOff = logitsView.offset();
    boolean bf16 = dLogitsView != null;
    MemorySegment out = bf16 ? dLogitsView.buffer() : logits;
    long outOff = bf16 ? dLogitsView.offset() : logitsOff;
    int width = bf16 ? Bf16.BYTES : Float.BYTES;
    out.asSlice(outOff * width, (long) n * vocab * width); // bounds, before anything is written
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
            long o = outOff + (long) i * vocab;
            if (targets[i] < 0) {
              out.asSlice(o * width, (long) vocab * width).fill((byte) 0);
              continue;
            }
            MemorySegment.copy(logits, JAVA_FLOAT, at * 4, row, 0, vocab);
            float max = max(row, vocab);
            float targetLogit = row[targets[i]] - max;
            float sum = expInPlace(row, vocab, max);
            loss += Math.log(sum) - targetLogit;
            float factor = gradScale / sum;
            long t = o + targets[i];
            if (bf16) {
              float target = row[targets[i]] * factor - gradScale; // as the fp32 gradient's
              storeScaledBf16(out, o, row, vocab, factor);
              out.setAtIndex(Bf16.LAYOUT, t, Bf16.round(target));
            } else {
              storeScaled(out, o, row, vocab, factor);
              out.setAtIndex(JAVA_FLOAT, t, out.getAtIndex(JAVA_FLOAT, t) - gradScale);
            }
          }
          s.sum += loss;
        });
    double total = 0;
    for (Scratch s : scratch) {
      total += s.sum;
    }
    return total;
  }

  @Override
  public void softmaxStatistics(
      View maxView, View sumsView, View targetView, View logitsView, View targetIds, int n, int v) {
    int[] targets = HostBuffers.ids(targetIds, n, "targets");
    MemorySegment max = f32(maxView, "max");
    MemorySegment sums = f32(sumsView, "sums");
    MemorySegment target = f32(targetView, "targetLogits");
    MemorySegment logits = f32(logitsView, "logits");
    parallel.forRange(
        0,
        n,
        (from, to, worker) -> {
          float[] row = scratch[worker].a(v);
          for (int i = from; i < to; i++) {
            MemorySegment.copy(
                logits, JAVA_FLOAT, (logitsView.offset() + (long) i * v) * 4, row, 0, v);
            target.setAtIndex(
                JAVA_FLOAT, targetView.offset() + i, targets[i] >= 0 ? row[targets[i]] : 0f);
            float m = max(row, v);
            max.setAtIndex(JAVA_FLOAT, maxView.offset() + i, m);
            sums.setAtIndex(JAVA_FLOAT, sumsView.offset() + i, expInPlace(row, v, m));
          }
        });
  }

  @Override
  public void softmaxGradient(
      View logitsView, View maxView, View sumsView, View targetIds, int n, int v, float gradScale) {
    int[] targets = HostBuffers.ids(targetIds, n, "targets");
    MemorySegment logits = f32(logitsView, "logits");
    MemorySegment max = f32(maxView, "max");
    MemorySegment sums = f32(sumsView, "sums");
    parallel.forRange(
        0,
        n,
        (from, to, worker) -> {
          float[] row = scratch[worker].a(v);
          for (int i = from; i < to; i++) {
            long at = logitsView.offset() + (long) i * v;
            if (targets[i] == NOT_COUNTED) {
              logits.asSlice(at * 4, v * 4L).fill((byte) 0);
              continue;
            }
            MemorySegment.copy(logits, JAVA_FLOAT, at * 4, row, 0, v);
            expInPlace(row, v, max.getAtIndex(JAVA_FLOAT, maxView.offset() + i));
            storeScaled(
                logits, at, row, v, gradScale / sums.getAtIndex(JAVA_FLOAT, sumsView.offset() + i));
            if (targets[i] >= 0) {
              long t = at + targets[i];
              logits.setAtIndex(JAVA_FLOAT, t, logits.getAtIndex(JAVA_FLOAT, t) - gradScale);
            }
          }
        });
  }

  /** {@code out[at + c] = row[c] * factor} for c in [0, count): a softmax row made a gradient. */
  private static void storeScaled(
      MemorySegment out, long at, float[] row, int count, float factor) {
    int c = 0;
    for (; c <= count - L; c += L) {
      FloatVector.fromArray(S, row, c).mul(factor).intoMemorySegment(out, (at + c) * 4, NATIVE);
    }
    for (; c < count; c++) {
      out.setAtIndex(JAVA_FLOAT, at + c, row[c] * factor);
    }
  }

  /**
   * {@link #storeScaled}, each product rounded to bf16 at bf16 element {@code at} of {@code out}.
   */
  private static void storeScaledBf16(
      MemorySegment out, long at, float[] row, int count, float factor) {
    int c = 0;
    for (; c <= count - L; c += L) {
      Bf16Vectors.store(FloatVector.fromArray(S, row, c).mul(factor), out, at + c);
    }
    for (; c < count; c++) {
      out.setAtIndex(Bf16.LAYOUT, at + c, Bf16.round(row[c] * factor));
    }
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

  @Override
  public void roundBf16Stochastic(View xView, long count, long seed, long firstIndex) {
    Bf16Vectors.roundStochastic(parallel, f32(xView, "x"), xView.offset(), count, seed, firstIndex);
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

  @Override
  public void adamwStochastic(
      View p, View g, View m, View v, long count, AdamWUpdate update, StochasticDraws draws) {
    f32(p, "p");
    f32(g, "g");
    m.require(DType.BF16, "m");
    v.require(DType.BF16, "v");
    adamw.updateStochastic(p, g, m, v, count, update, draws);
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
  static MemorySegment f32(View view, String operand) {
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
}
