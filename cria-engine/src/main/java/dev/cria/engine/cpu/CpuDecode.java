package dev.cria.engine.cpu;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The decoding kernels of {@link CpuKernels}: matrix-vector products with rows split over the
 * threads, and one position's attention over a key/value cache, one query head per task. Sums are
 * taken in a fixed order (four accumulators, lanes added one by one rather than with {@code
 * reduceLanes}, whose order may change once the JIT compiles it), so the same inputs give the same
 * bits whatever the thread count.
 */
final class CpuDecode {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

  private final Parallel parallel;
  private final float[][] scores;

  CpuDecode(Parallel parallel) {
    this.parallel = parallel;
    this.scores = new float[parallel.threads()][0];
  }

  void matVec(View y, View w, View x, int rows, int cols, boolean accumulate) {
    MemorySegment ys = y.buffer();
    MemorySegment ws = w.buffer();
    MemorySegment xs = x.buffer();
    parallel.forRange(
        0,
        rows,
        (from, to, worker) -> {
          for (int r = from; r < to; r++) {
            float dot = dot(ws, w.offset() + (long) r * cols, xs, x.offset(), cols);
            long at = y.offset() + r;
            ys.setAtIndex(JAVA_FLOAT, at, accumulate ? ys.getAtIndex(JAVA_FLOAT, at) + dot : dot);
          }
        });
  }

  void attentionDecode(
      View out,
      View q,
      View keys,
      View values,
      int positions,
      int heads,
      int kvHeads,
      int headDim) {
    int group = heads / kvHeads;
    int kvDim = kvHeads * headDim;
    float scale = (float) (1.0 / Math.sqrt(headDim));
    MemorySegment o = out.buffer();
    MemorySegment qs = q.buffer();
    MemorySegment ks = keys.buffer();
    MemorySegment vs = values.buffer();
    parallel.forRange(
        0,
        heads,
        (from, to, worker) -> {
          float[] p =
              scores[worker].length >= positions
                  ? scores[worker]
                  : (scores[worker] = new float[Math.max(positions, 2 * scores[worker].length)]);
          for (int h = from; h < to; h++) {
            long qAt = q.offset() + (long) h * headDim;
            long head = (long) (h / group) * headDim;
            float max = Float.NEGATIVE_INFINITY;
            for (int t = 0; t < positions; t++) {
              float s = dot(ks, keys.offset() + (long) t * kvDim + head, qs, qAt, headDim) * scale;
              p[t] = s;
              max = Math.max(max, s);
            }
            // Subtracting the max keeps exp from overflowing; the largest weight is exactly 1.
            float sum = 0;
            for (int t = 0; t < positions; t++) {
              float e = (float) StrictMath.exp(p[t] - max);
              p[t] = e;
              sum += e;
            }
            long oAt = out.offset() + (long) h * headDim;
            o.asSlice(oAt * Float.BYTES, (long) headDim * Float.BYTES).fill((byte) 0);
            for (int t = 0; t < positions; t++) {
              accumulate(o, oAt, vs, values.offset() + (long) t * kvDim + head, headDim, p[t]);
            }
            float inverse = 1f / sum;
            for (int c = 0; c < headDim; c++) {
              o.setAtIndex(JAVA_FLOAT, oAt + c, o.getAtIndex(JAVA_FLOAT, oAt + c) * inverse);
            }
          }
        });
  }

  /** {@code sum_i a[aOff + i] * b[bOff + i]} over {@code n} floats, in a fixed order. */
  private static float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n) {
    long aBytes = aOff * Float.BYTES;
    long bBytes = bOff * Float.BYTES;
    FloatVector acc0 = FloatVector.zero(S);
    FloatVector acc1 = acc0;
    FloatVector acc2 = acc0;
    FloatVector acc3 = acc0;
    int i = 0;
    for (; i <= n - 4 * L; i += 4 * L) {
      acc0 = load(a, aBytes, i).fma(load(b, bBytes, i), acc0);
      acc1 = load(a, aBytes, i + L).fma(load(b, bBytes, i + L), acc1);
      acc2 = load(a, aBytes, i + 2 * L).fma(load(b, bBytes, i + 2 * L), acc2);
      acc3 = load(a, aBytes, i + 3 * L).fma(load(b, bBytes, i + 3 * L), acc3);
    }
    for (; i <= n - L; i += L) {
      acc0 = load(a, aBytes, i).fma(load(b, bBytes, i), acc0);
    }
    FloatVector acc = acc0.add(acc1).add(acc2.add(acc3));
    float sum = 0;
    for (int lane = 0; lane < L; lane++) {
      sum += acc.lane(lane);
    }
    for (; i < n; i++) {
      sum += a.getAtIndex(JAVA_FLOAT, aOff + i) * b.getAtIndex(JAVA_FLOAT, bOff + i);
    }
    return sum;
  }

  private static FloatVector load(MemorySegment m, long bytes, int i) {
    return FloatVector.fromMemorySegment(S, m, bytes + (long) i * Float.BYTES, NATIVE);
  }

  /** {@code acc[at + i] += p * m[offset + i]} over {@code n} floats. */
  private static void accumulate(
      MemorySegment acc, long at, MemorySegment m, long offset, int n, float p) {
    FloatVector pv = FloatVector.broadcast(S, p);
    int i = 0;
    for (; i <= n - L; i += L) {
      long accBytes = (at + i) * Float.BYTES;
      load(m, offset * Float.BYTES, i)
          .fma(pv, FloatVector.fromMemorySegment(S, acc, accBytes, NATIVE))
          .intoMemorySegment(acc, accBytes, NATIVE);
    }
    for (; i < n; i++) {
      acc.setAtIndex(
          JAVA_FLOAT,
          at + i,
          acc.getAtIndex(JAVA_FLOAT, at + i) + p * m.getAtIndex(JAVA_FLOAT, offset + i));
    }
  }
}
