package dev.cria.engine.cpu;

import dev.cria.engine.backend.AdamWUpdate;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The AdamW update of {@link CpuKernels}: contiguous chunks of 64K parameters on all cores, the
 * Vector API within a chunk and a scalar tail that does the same arithmetic lane by lane, so the
 * result is the reference's bit for bit.
 */
final class CpuAdamW {
  private static final int CHUNK = 1 << 16;
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

  private final Parallel parallel;

  CpuAdamW(Parallel parallel) {
    this.parallel = parallel;
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
