package dev.cria.engine.reference;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.cria.engine.backend.AdamWUpdate;
import dev.cria.engine.backend.AttentionShape;
import dev.cria.engine.backend.HostBuffers;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.backend.RopeTable;
import dev.cria.engine.backend.StochasticDraws;
import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;

/**
 * Every kernel written as plainly as possible, single-threaded, straight from the math: the
 * reference the fast kernels are tested against. Accumulations are in float except where noted, so
 * results match the fast kernels to float rounding, not bit for bit. Each kernel checks the dtypes
 * of its views, then reads their buffers at their offsets.
 *
 * <p>This file is long because it is the twin of the whole {@link dev.cria.engine.backend.Kernels}
 * interface (but the linear layers', in {@link ReferenceLinear}): one plain loop per kernel, side
 * by side, so that each reads as the math it checks.
 */
public final class ReferenceKernels implements Kernels {

  @Override
  public String name() {
    return "reference";
  }

  private static float get(MemorySegment s, long i) {
    return s.getAtIndex(JAVA_FLOAT, i);
  }

  private static void set(MemorySegment s, long i, float v) {
    s.setAtIndex(JAVA_FLOAT, i, v);
  }

  /** Where a kernel that may write bf16 writes element {@code i} (from the view's start). */
  @FunctionalInterface
  private interface Store {
    void set(long i, float v);
  }

  /** Writes to an f32 view as it is, to a bf16 view rounded ({@link Bf16#round(float)}). */
  private static Store store(View view) {
    MemorySegment s = view.buffer();
    long at = view.offset();
    return switch (view.dtype()) {
      case F32 -> (i, v) -> set(s, at + i, v);
      case BF16 -> (i, v) -> s.setAtIndex(Bf16.LAYOUT, at + i, Bf16.round(v));
      case I32 -> throw new IllegalArgumentException("an output must be f32 or bf16, got i32");
    };
  }

  /** The buffer of {@code view}, an f32 view; else throws naming {@code operand}. */
  private static MemorySegment f32(View view, String operand) {
    return view.require(DType.F32, operand).buffer();
  }

  @Override
  public void linearForward(View y, View x, View w, int n, int in, int out) {
    f32(y, "y");
    ReferenceLinear.forward(y, x, w, n, in, out);
  }

  @Override
  public void linearBackward(
      View dx, boolean overwriteDx, View dw, View dy, View x, View w, int n, int in, int out) {
    f32(dx, "dx");
    f32(dw, "dw");
    ReferenceLinear.backward(dx, overwriteDx, dw, dy, x, w, n, in, out);
  }

  @Override
  public void roundToBf16(View dst, View src, long count) {
    dst.require(DType.BF16, "dst");
    Bf16.round(dst.buffer(), dst.offset(), f32(src, "src"), src.offset(), count);
  }

  @Override
  public void widenBf16(View dst, View src, long count) {
    src.require(DType.BF16, "src");
    Bf16.widen(f32(dst, "dst"), dst.offset(), src.buffer(), src.offset(), count);
  }

  @Override
  public String bf16Matmul() {
    return "reference (plain loops, bf16 operands widened to fp32)";
  }

  @Override
  public void embeddingForward(View outView, View tableView, View tokenIds, int n, int d) {
    int[] tokens = HostBuffers.ids(tokenIds, n, "tokens");
    MemorySegment out = f32(outView, "out");
    long outOff = outView.offset();
    MemorySegment table = f32(tableView, "table");
    long tableOff = tableView.offset();
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < d; c++) {
        float value = tokens[i] < 0 ? 0f : get(table, tableOff + (long) tokens[i] * d + c);
        set(out, outOff + (long) i * d + c, value);
      }
    }
  }

  @Override
  public void embeddingBackward(View dTableView, View dOutView, View tokenIds, int n, int d) {
    int[] tokens = HostBuffers.ids(tokenIds, n, "tokens");
    MemorySegment dTable = f32(dTableView, "dTable");
    long dTableOff = dTableView.offset();
    MemorySegment dOut = f32(dOutView, "dOut");
    long dOutOff = dOutView.offset();
    for (int i = 0; i < n; i++) {
      if (tokens[i] < 0) {
        continue;
      }
      for (int c = 0; c < d; c++) {
        long at = dTableOff + (long) tokens[i] * d + c;
        set(dTable, at, get(dTable, at) + get(dOut, dOutOff + (long) i * d + c));
      }
    }
  }

  @Override
  public void rmsNormForward(
      View outView, View rstdView, View xView, View wView, int n, int d, float eps) {
    Store out = store(outView);
    MemorySegment rstd = f32(rstdView, "rstd");
    long rstdOff = rstdView.offset();
    MemorySegment x = f32(xView, "x");
    long xOff = xView.offset();
    MemorySegment w = f32(wView, "w");
    long wOff = wView.offset();
    for (int i = 0; i < n; i++) {
      double ss = 0;
      for (int c = 0; c < d; c++) {
        float v = get(x, xOff + (long) i * d + c);
        ss += v * v;
      }
      float r = (float) (1.0 / Math.sqrt(ss / d + eps));
      set(rstd, rstdOff + i, r);
      for (int c = 0; c < d; c++) {
        out.set((long) i * d + c, get(x, xOff + (long) i * d + c) * r * get(w, wOff + c));
      }
    }
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
    // out_c = x_c r w_c, r = (mean(x^2) + eps)^-1/2, dr/dx_c = -r^3 x_c / d
    for (int i = 0; i < n; i++) {
      float r = get(rstd, rstdOff + i);
      double dot = 0; // sum_c dOut_c w_c x_c
      for (int c = 0; c < d; c++) {
        long at = (long) i * d + c;
        dot += get(dOut, dOutOff + at) * get(w, wOff + c) * get(x, xOff + at);
      }
      for (int c = 0; c < d; c++) {
        long at = (long) i * d + c;
        float xc = get(x, xOff + at);
        float g = get(dOut, dOutOff + at);
        float grad = (float) (r * g * get(w, wOff + c) - r * r * r * xc * dot / d);
        set(dx, dxOff + at, get(dx, dxOff + at) + grad);
        set(dw, dwOff + c, get(dw, dwOff + c) + g * xc * r);
      }
    }
  }

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
    float sign = inverse ? -1f : 1f;
    for (int b = 0; b < batch; b++) {
      for (int t = 0; t < seq; t++) {
        for (int h = 0; h < heads; h++) {
          long base = xOff + (((long) b * seq + t) * heads + h) * hd;
          for (int j = 0; j < half; j++) {
            float c = table.cos(firstPosition + t, j);
            float s = sign * table.sin(firstPosition + t, j);
            float a = get(x, base + j);
            float bb = get(x, base + j + half);
            set(x, base + j, a * c - bb * s);
            set(x, base + j + half, bb * c + a * s);
          }
        }
      }
    }
  }

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
    float[] p = new float[seq];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        int kh = h / group;
        for (int i = 0; i < seq; i++) {
          long qi = qOff + (((long) b * seq + i) * heads + h) * headDim;
          float max = Float.NEGATIVE_INFINITY;
          for (int j = 0; j <= i; j++) {
            long kj = kOff + (((long) b * seq + j) * kvHeads + kh) * headDim;
            float s = 0;
            for (int c = 0; c < headDim; c++) {
              s += get(q, qi + c) * get(k, kj + c);
            }
            p[j] = s * scale;
            max = Math.max(max, p[j]);
          }
          double sum = 0;
          for (int j = 0; j <= i; j++) {
            p[j] = (float) Math.exp(p[j] - max);
            sum += p[j];
          }
          set(lse, lseOff + ((long) b * heads + h) * seq + i, (float) (max + Math.log(sum)));
          long oi = outOff + (((long) b * seq + i) * heads + h) * headDim;
          for (int c = 0; c < headDim; c++) {
            float acc = 0;
            for (int j = 0; j <= i; j++) {
              acc += p[j] * get(v, vOff + (((long) b * seq + j) * kvHeads + kh) * headDim + c);
            }
            set(out, oi + c, (float) (acc / sum));
          }
        }
      }
    }
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
    long kvSize = (long) batch * seq * kvHeads * headDim;
    for (long i = 0; i < kvSize; i++) {
      set(dk, dkOff + i, 0f);
      set(dv, dvOff + i, 0f);
    }
    float[] p = new float[seq];
    float[] dp = new float[seq];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        int kh = h / group;
        for (int i = 0; i < seq; i++) {
          long qi = qOff + (((long) b * seq + i) * heads + h) * headDim;
          long oi = (((long) b * seq + i) * heads + h) * headDim;
          float rowLse = get(lse, lseOff + ((long) b * heads + h) * seq + i);
          // P_ij = exp(s_ij - lse_i); D_i = sum_c dO_ic O_ic
          float di = 0;
          for (int c = 0; c < headDim; c++) {
            di += get(dOut, dOutOff + oi + c) * get(out, outOff + oi + c);
          }
          for (int j = 0; j <= i; j++) {
            long kj = kOff + (((long) b * seq + j) * kvHeads + kh) * headDim;
            long vj = vOff + (((long) b * seq + j) * kvHeads + kh) * headDim;
            float s = 0;
            float dpj = 0;
            for (int c = 0; c < headDim; c++) {
              s += get(q, qi + c) * get(k, kj + c);
              dpj += get(dOut, dOutOff + oi + c) * get(v, vj + c);
            }
            p[j] = (float) Math.exp(s * scale - rowLse);
            dp[j] = dpj;
          }
          for (int c = 0; c < headDim; c++) {
            float acc = 0;
            for (int j = 0; j <= i; j++) {
              float ds = p[j] * (dp[j] - di);
              acc += ds * get(k, kOff + (((long) b * seq + j) * kvHeads + kh) * headDim + c);
            }
            set(dq, dqOff + oi + c, acc * scale);
          }
          for (int j = 0; j <= i; j++) {
            float ds = p[j] * (dp[j] - di);
            long kj = (((long) b * seq + j) * kvHeads + kh) * headDim;
            for (int c = 0; c < headDim; c++) {
              set(dk, dkOff + kj + c, get(dk, dkOff + kj + c) + ds * scale * get(q, qi + c));
              set(dv, dvOff + kj + c, get(dv, dvOff + kj + c) + p[j] * get(dOut, dOutOff + oi + c));
            }
          }
        }
      }
    }
  }

  static float silu(float x) {
    return (float) (x / (1.0 + Math.exp(-x)));
  }

  @Override
  public void swigluForward(View hView, View gateView, View upView, long count) {
    Store h = store(hView);
    MemorySegment gate = f32(gateView, "gate");
    long gateOff = gateView.offset();
    MemorySegment up = f32(upView, "up");
    long upOff = upView.offset();
    for (long i = 0; i < count; i++) {
      h.set(i, silu(get(gate, gateOff + i)) * get(up, upOff + i));
    }
  }

  @Override
  public void swigluBackward(
      View dGateView, View dUpView, View dhView, View gateView, View upView, long count) {
    Store dGate = store(dGateView);
    Store dUp = store(dUpView);
    MemorySegment dh = f32(dhView, "dh");
    long dhOff = dhView.offset();
    MemorySegment gate = f32(gateView, "gate");
    long gateOff = gateView.offset();
    MemorySegment up = f32(upView, "up");
    long upOff = upView.offset();
    for (long i = 0; i < count; i++) {
      float g = get(gate, gateOff + i);
      float u = get(up, upOff + i);
      float d = get(dh, dhOff + i);
      double sig = 1.0 / (1.0 + Math.exp(-g));
      // silu'(g) = sig + g sig (1 - sig)
      dGate.set(i, (float) (d * u * (sig + g * sig * (1 - sig))));
      dUp.set(i, (float) (d * g * sig));
    }
  }

  @Override
  public double crossEntropy(View logitsView, View targetIds, int n, int vocab, float gradScale) {
    return crossEntropy(logitsView, logitsView, targetIds, n, vocab, gradScale);
  }

  @Override
  public double crossEntropy(
      View dLogitsView, View logitsView, View targetIds, int n, int vocab, float gradScale) {
    int[] targets = HostBuffers.ids(targetIds, n, "targets");
    MemorySegment logits = f32(logitsView, "logits");
    long logitsOff = logitsView.offset();
    if (dLogitsView != logitsView) {
      dLogitsView.require(DType.BF16, "dLogits");
    }
    Store gradient = store(dLogitsView); // the logits themselves, or bf16 rounded
    double loss = 0;
    for (int i = 0; i < n; i++) {
      long row = logitsOff + (long) i * vocab;
      long out = (long) i * vocab;
      if (targets[i] < 0) {
        for (int c = 0; c < vocab; c++) {
          gradient.set(out + c, 0f);
        }
        continue;
      }
      float max = Float.NEGATIVE_INFINITY;
      for (int c = 0; c < vocab; c++) {
        max = Math.max(max, get(logits, row + c));
      }
      double sum = 0;
      for (int c = 0; c < vocab; c++) {
        sum += Math.exp(get(logits, row + c) - max);
      }
      double logSum = Math.log(sum) + max;
      loss += logSum - get(logits, row + targets[i]);
      for (int c = 0; c < vocab; c++) {
        double prob = Math.exp(get(logits, row + c) - logSum);
        gradient.set(out + c, (float) ((prob - (c == targets[i] ? 1 : 0)) * gradScale));
      }
    }
    return loss;
  }

  @Override
  public void softmaxStatistics(
      View maxView, View sumsView, View targetView, View logitsView, View targetIds, int n, int v) {
    int[] targets = HostBuffers.ids(targetIds, n, "targets");
    MemorySegment max = f32(maxView, "max");
    MemorySegment sums = f32(sumsView, "sums");
    MemorySegment target = f32(targetView, "targetLogits");
    MemorySegment logits = f32(logitsView, "logits");
    for (int i = 0; i < n; i++) {
      long row = logitsView.offset() + (long) i * v;
      float m = Float.NEGATIVE_INFINITY;
      for (int c = 0; c < v; c++) {
        m = Math.max(m, get(logits, row + c));
      }
      double sum = 0;
      for (int c = 0; c < v; c++) {
        sum += Math.exp(get(logits, row + c) - m);
      }
      set(max, maxView.offset() + i, m);
      set(sums, sumsView.offset() + i, (float) sum);
      set(target, targetView.offset() + i, targets[i] >= 0 ? get(logits, row + targets[i]) : 0);
    }
  }

  @Override
  public void softmaxGradient(
      View logitsView, View maxView, View sumsView, View targetIds, int n, int v, float gradScale) {
    int[] targets = HostBuffers.ids(targetIds, n, "targets");
    MemorySegment logits = f32(logitsView, "logits");
    MemorySegment max = f32(maxView, "max");
    MemorySegment sums = f32(sumsView, "sums");
    for (int i = 0; i < n; i++) {
      long row = logitsView.offset() + (long) i * v;
      double m = get(max, maxView.offset() + i);
      double sum = get(sums, sumsView.offset() + i);
      for (int c = 0; c < v; c++) {
        double grad =
            targets[i] == NOT_COUNTED
                ? 0
                : (Math.exp(get(logits, row + c) - m) / sum - (c == targets[i] ? 1 : 0))
                    * gradScale;
        set(logits, row + c, (float) grad);
      }
    }
  }

  @Override
  public void add(View dstView, View srcView, long count) {
    MemorySegment dst = f32(dstView, "dst");
    long dstOff = dstView.offset();
    MemorySegment src = f32(srcView, "src");
    long srcOff = srcView.offset();
    for (long i = 0; i < count; i++) {
      set(dst, dstOff + i, get(dst, dstOff + i) + get(src, srcOff + i));
    }
  }

  @Override
  public double sumOfSquares(View xView, long count) {
    MemorySegment x = f32(xView, "x");
    long off = xView.offset();
    double sum = 0;
    for (long i = 0; i < count; i++) {
      double v = get(x, off + i);
      sum += v * v;
    }
    return sum;
  }

  @Override
  public void scale(View xView, long count, float factor) {
    MemorySegment x = f32(xView, "x");
    long off = xView.offset();
    for (long i = 0; i < count; i++) {
      set(x, off + i, get(x, off + i) * factor);
    }
  }

  @Override
  public void roundBf16Stochastic(View xView, long count, long seed, long firstIndex) {
    MemorySegment x = f32(xView, "x");
    long off = xView.offset();
    for (long i = 0; i < count; i++) {
      set(x, off + i, Bf16.roundStochastic(get(x, off + i), Bf16.noise16(seed, firstIndex + i)));
    }
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
    int group = heads / kvHeads;
    int kvDim = kvHeads * headDim;
    float scale = (float) (1.0 / Math.sqrt(headDim));
    float[] p = new float[positions];
    for (int h = 0; h < heads; h++) {
      long qh = q.offset() + (long) h * headDim;
      long head = (long) (h / group) * headDim;
      float max = Float.NEGATIVE_INFINITY;
      for (int t = 0; t < positions; t++) {
        float s = 0;
        for (int c = 0; c < headDim; c++) {
          s +=
              get(q.buffer(), qh + c)
                  * get(keys.buffer(), keys.offset() + (long) t * kvDim + head + c);
        }
        p[t] = s * scale;
        max = Math.max(max, p[t]);
      }
      double sum = 0;
      for (int t = 0; t < positions; t++) {
        p[t] = (float) Math.exp(p[t] - max);
        sum += p[t];
      }
      for (int c = 0; c < headDim; c++) {
        float acc = 0;
        for (int t = 0; t < positions; t++) {
          acc += p[t] * get(values.buffer(), values.offset() + (long) t * kvDim + head + c);
        }
        set(out.buffer(), out.offset() + (long) h * headDim + c, (float) (acc / sum));
      }
    }
  }

  @Override
  public void matVec(View y, View w, View x, int rows, int cols, boolean accumulate) {
    f32(y, "y");
    f32(w, "w");
    f32(x, "x");
    for (int r = 0; r < rows; r++) {
      float dot = 0;
      for (int c = 0; c < cols; c++) {
        dot += get(w.buffer(), w.offset() + (long) r * cols + c) * get(x.buffer(), x.offset() + c);
      }
      long at = y.offset() + r;
      set(y.buffer(), at, accumulate ? get(y.buffer(), at) + dot : dot);
    }
  }

  @Override
  public void adamw(View pView, View gView, View mView, View vView, long count, AdamWUpdate u) {
    MemorySegment p = f32(pView, "p");
    long pOff = pView.offset();
    MemorySegment g = f32(gView, "g");
    long gOff = gView.offset();
    MemorySegment m = f32(mView, "m");
    long mOff = mView.offset();
    MemorySegment v = f32(vView, "v");
    long vOff = vView.offset();
    for (long i = 0; i < count; i++) {
      float grad = get(g, gOff + i);
      float mi = u.beta1() * get(m, mOff + i) + (1 - u.beta1()) * grad;
      float vi = u.beta2() * get(v, vOff + i) + (1 - u.beta2()) * (grad * grad);
      set(m, mOff + i, mi);
      set(v, vOff + i, vi);
      float param = get(p, pOff + i) * u.decay();
      set(p, pOff + i, param - (mi / u.c1()) * u.lr() / ((float) Math.sqrt(vi / u.c2()) + u.eps()));
    }
  }

  @Override
  public void adamwStochastic(
      View pView,
      View gView,
      View mView,
      View vView,
      long count,
      AdamWUpdate u,
      StochasticDraws draws) {
    MemorySegment p = f32(pView, "p");
    MemorySegment g = f32(gView, "g");
    mView.require(DType.BF16, "m");
    vView.require(DType.BF16, "v");
    MemorySegment m = mView.buffer();
    MemorySegment v = vView.buffer();
    for (long i = 0; i < count; i++) {
      long index = draws.firstIndex() + i;
      long mAt = mView.offset() + i;
      long vAt = vView.offset() + i;
      float grad = get(g, gView.offset() + i);
      float mi = u.beta1() * Bf16.widen(m.getAtIndex(Bf16.LAYOUT, mAt)) + (1 - u.beta1()) * grad;
      float vi =
          u.beta2() * Bf16.widen(v.getAtIndex(Bf16.LAYOUT, vAt)) + (1 - u.beta2()) * (grad * grad);
      float param = get(p, pView.offset() + i) * u.decay();
      param -= (mi / u.c1()) * u.lr() / ((float) Math.sqrt(vi / u.c2()) + u.eps());
      set(
          p,
          pView.offset() + i,
          Bf16.roundStochastic(param, Bf16.noise16(draws.parameters(), index)));
      float mRounded = Bf16.roundStochastic(mi, Bf16.noise16(draws.firstMoment(), index));
      float vRounded = Bf16.roundStochastic(vi, Bf16.noise16(draws.secondMoment(), index));
      m.setAtIndex(Bf16.LAYOUT, mAt, Bf16.round(mRounded)); // exact: a bf16 value
      v.setAtIndex(Bf16.LAYOUT, vAt, Bf16.round(vRounded));
    }
  }
}
