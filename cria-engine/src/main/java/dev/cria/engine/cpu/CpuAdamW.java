package dev.cria.engine.cpu;

import dev.cria.engine.backend.AdamWUpdate;
import dev.cria.engine.backend.StochasticDraws;
import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.View;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The AdamW update of {@link CpuKernels}: contiguous chunks of 64K parameters on all cores, the
 * Vector API within a chunk and a scalar tail that does the same arithmetic lane by lane, so the
 * result is the reference's bit for bit. bf16-sr's update ({@link #updateStochastic}) does the same
 * arithmetic on moments widened from bf16, a block of 2K parameters at a time, and rounds its three
 * results stochastically while the block is in the cache: one pass over memory. (One loop doing all
 * of it a vector at a time took ten times as long, 1.0 s a {@code small} step against 0.1 s: a body
 * that large did not compile to plain vector code. The draws' hashing, three per parameter, is most
 * of what remains.)
 */
final class CpuAdamW {
  private static final int CHUNK = 1 << 16;

  /** Parameters a stochastic update takes through the cache at a time (CHUNK is a multiple). */
  private static final int BLOCK = 1 << 11;

  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

  private final Parallel parallel;
  private final MemorySegment[] moments; // per worker: a block of each moment in fp32

  CpuAdamW(Parallel parallel) {
    this.parallel = parallel;
    this.moments = new MemorySegment[parallel.threads()];
    for (int w = 0; w < moments.length; w++) {
      moments[w] = Arena.ofAuto().allocate(2L * BLOCK * Float.BYTES, 64);
    }
  }

  void update(View p, View g, View m, View v, long count, AdamWUpdate u) {
    long chunks = (count + CHUNK - 1) / CHUNK;
    parallel.forRange(
        0,
        Math.toIntExact(chunks),
        (k0, k1, worker) -> {
          long start = (long) k0 * CHUNK;
          long end = Math.min(count, (long) k1 * CHUNK);
          update(
              p, g, m, v, start, end, u.lr(), u.decay(), u.beta1(), u.beta2(), u.c1(), u.c2(),
              u.eps());
        });
  }

  void updateStochastic(
      View p, View g, View m, View v, long count, AdamWUpdate u, StochasticDraws draws) {
    long chunks = (count + CHUNK - 1) / CHUNK;
    parallel.forRange(
        0,
        Math.toIntExact(chunks),
        (k0, k1, worker) -> {
          long end = Math.min(count, (long) k1 * CHUNK);
          for (long from = (long) k0 * CHUNK; from < end; from += BLOCK) {
            updateStochastic(
                p, g, m, v, from, Math.min(end, from + BLOCK), u, draws, moments[worker]);
          }
        });
  }

  /**
   * Elements {@code [start, end)} of each view, at most {@link #BLOCK}, the moments bf16: the
   * update in fp32 (the parameters in place, the moments into {@code work}), then the three rounded
   * stochastically while they are in the cache, the moments stored back in bf16.
   */
  private static void updateStochastic(
      View pView,
      View gView,
      View mView,
      View vView,
      long start,
      long end,
      AdamWUpdate u,
      StochasticDraws draws,
      MemorySegment work) {
    MemorySegment p = pView.buffer();
    MemorySegment g = gView.buffer();
    MemorySegment ms = mView.buffer();
    MemorySegment vs = vView.buffer();
    long pOff = pView.offset();
    long gOff = gView.offset();
    long mOff = mView.offset();
    long vOff = vView.offset();
    float lr = u.lr();
    float decay = u.decay();
    float b1 = u.beta1();
    float b2 = u.beta2();
    float c1 = u.c1();
    float c2 = u.c2();
    float eps = u.eps();
    long n = end - start;
    long i = 0; // work holds m at [0, BLOCK) and v at [BLOCK, 2 BLOCK)
    for (; i <= n - L; i += L) {
      long pAt = (pOff + start + i) * Float.BYTES;
      FloatVector grad =
          FloatVector.fromMemorySegment(S, g, (gOff + start + i) * Float.BYTES, NATIVE);
      FloatVector mi = Bf16Vectors.widen(ms, mOff + start + i).mul(b1).add(grad.mul(1 - b1));
      FloatVector vi =
          Bf16Vectors.widen(vs, vOff + start + i).mul(b2).add(grad.mul(grad).mul(1 - b2));
      mi.intoMemorySegment(work, i * Float.BYTES, NATIVE);
      vi.intoMemorySegment(work, (BLOCK + i) * Float.BYTES, NATIVE);
      FloatVector step = mi.div(c1).mul(lr).div(vi.div(c2).sqrt().add(eps));
      FloatVector.fromMemorySegment(S, p, pAt, NATIVE)
          .mul(decay)
          .sub(step)
          .intoMemorySegment(p, pAt, NATIVE);
    }
    for (; i < n; i++) {
      float grad = g.getAtIndex(ValueLayout.JAVA_FLOAT, gOff + start + i);
      float mi = b1 * Bf16.widen(ms.getAtIndex(Bf16.LAYOUT, mOff + start + i)) + (1 - b1) * grad;
      float vi =
          b2 * Bf16.widen(vs.getAtIndex(Bf16.LAYOUT, vOff + start + i)) + (1 - b2) * (grad * grad);
      work.setAtIndex(ValueLayout.JAVA_FLOAT, i, mi);
      work.setAtIndex(ValueLayout.JAVA_FLOAT, BLOCK + i, vi);
      float param = p.getAtIndex(ValueLayout.JAVA_FLOAT, pOff + start + i) * decay;
      p.setAtIndex(
          ValueLayout.JAVA_FLOAT,
          pOff + start + i,
          param - (mi / c1) * lr / ((float) Math.sqrt(vi / c2) + eps));
    }
    long index = draws.firstIndex() + start;
    Bf16Vectors.roundStochastic(p, pOff + start, 0, n, draws.parameters(), index);
    Bf16Vectors.roundStochastic(work, 0, 0, n, draws.firstMoment(), index);
    Bf16Vectors.roundStochastic(work, BLOCK, 0, n, draws.secondMoment(), index);
    Bf16Vectors.round(ms, mOff + start, work, 0, 0, n); // exact: bf16 values now
    Bf16Vectors.round(vs, vOff + start, work, BLOCK, 0, n);
  }

  /** Elements {@code [start, end)} of each view. */
  private static void update(
      View pView,
      View gView,
      View mView,
      View vView,
      long start,
      long end,
      float lr,
      float decay,
      float b1,
      float b2,
      float c1,
      float c2,
      float eps) {
    MemorySegment p = pView.buffer();
    MemorySegment g = gView.buffer();
    MemorySegment ms = mView.buffer();
    MemorySegment vs = vView.buffer();
    long pOff = pView.offset();
    long gOff = gView.offset();
    long mOff = mView.offset();
    long vOff = vView.offset();
    long i = start;
    for (; i <= end - L; i += L) {
      long pAt = (pOff + i) * Float.BYTES;
      FloatVector grad = FloatVector.fromMemorySegment(S, g, (gOff + i) * Float.BYTES, NATIVE);
      long mAt = (mOff + i) * Float.BYTES;
      long vAt = (vOff + i) * Float.BYTES;
      FloatVector mi =
          FloatVector.fromMemorySegment(S, ms, mAt, NATIVE).mul(b1).add(grad.mul(1 - b1));
      FloatVector vi =
          FloatVector.fromMemorySegment(S, vs, vAt, NATIVE).mul(b2).add(grad.mul(grad).mul(1 - b2));
      mi.intoMemorySegment(ms, mAt, NATIVE);
      vi.intoMemorySegment(vs, vAt, NATIVE);
      FloatVector step = mi.div(c1).mul(lr).div(vi.div(c2).sqrt().add(eps));
      FloatVector.fromMemorySegment(S, p, pAt, NATIVE)
          .mul(decay)
          .sub(step)
          .intoMemorySegment(p, pAt, NATIVE);
    }
    for (; i < end; i++) {
      float grad = g.getAtIndex(ValueLayout.JAVA_FLOAT, gOff + i);
      float mi = b1 * ms.getAtIndex(ValueLayout.JAVA_FLOAT, mOff + i) + (1 - b1) * grad;
      float vi = b2 * vs.getAtIndex(ValueLayout.JAVA_FLOAT, vOff + i) + (1 - b2) * (grad * grad);
      ms.setAtIndex(ValueLayout.JAVA_FLOAT, mOff + i, mi);
      vs.setAtIndex(ValueLayout.JAVA_FLOAT, vOff + i, vi);
      float param = p.getAtIndex(ValueLayout.JAVA_FLOAT, pOff + i) * decay;
      p.setAtIndex(
          ValueLayout.JAVA_FLOAT,
          pOff + i,
          param - (mi / c1) * lr / ((float) Math.sqrt(vi / c2) + eps));
    }
  }
}
