package dev.cria.engine.cpu;

import dev.cria.engine.backend.AdamWUpdate;
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

  void update(
      MemorySegment p,
      MemorySegment g,
      MemorySegment m,
      MemorySegment v,
      long momentBase,
      long first,
      long last,
      AdamWUpdate u) {
    long chunks = (last - first + CHUNK - 1) / CHUNK;
    parallel.forRange(
        0,
        Math.toIntExact(chunks),
        (k0, k1, worker) -> {
          long start = first + (long) k0 * CHUNK;
          long end = Math.min(last, first + (long) k1 * CHUNK);
          update(
              p,
              g,
              m,
              v,
              momentBase,
              start,
              end,
              u.lr(),
              u.decay(),
              u.beta1(),
              u.beta2(),
              u.c1(),
              u.c2(),
              u.eps());
        });
  }

  private static void update(
      MemorySegment p,
      MemorySegment g,
      MemorySegment ms,
      MemorySegment vs,
      long from,
      long start,
      long end,
      float lr,
      float decay,
      float b1,
      float b2,
      float c1,
      float c2,
      float eps) {
    long i = start;
    for (; i <= end - L; i += L) {
      long at = i * Float.BYTES;
      long momentAt = (i - from) * Float.BYTES;
      FloatVector grad = FloatVector.fromMemorySegment(S, g, at, NATIVE);
      FloatVector mi =
          FloatVector.fromMemorySegment(S, ms, momentAt, NATIVE).mul(b1).add(grad.mul(1 - b1));
      FloatVector vi =
          FloatVector.fromMemorySegment(S, vs, momentAt, NATIVE)
              .mul(b2)
              .add(grad.mul(grad).mul(1 - b2));
      mi.intoMemorySegment(ms, momentAt, NATIVE);
      vi.intoMemorySegment(vs, momentAt, NATIVE);
      FloatVector step = mi.div(c1).mul(lr).div(vi.div(c2).sqrt().add(eps));
      FloatVector.fromMemorySegment(S, p, at, NATIVE)
          .mul(decay)
          .sub(step)
          .intoMemorySegment(p, at, NATIVE);
    }
    for (; i < end; i++) {
      float grad = g.getAtIndex(ValueLayout.JAVA_FLOAT, i);
      float mi = b1 * ms.getAtIndex(ValueLayout.JAVA_FLOAT, i - from) + (1 - b1) * grad;
      float vi = b2 * vs.getAtIndex(ValueLayout.JAVA_FLOAT, i - from) + (1 - b2) * (grad * grad);
      ms.setAtIndex(ValueLayout.JAVA_FLOAT, i - from, mi);
      vs.setAtIndex(ValueLayout.JAVA_FLOAT, i - from, vi);
      float param = p.getAtIndex(ValueLayout.JAVA_FLOAT, i) * decay;
      p.setAtIndex(
          ValueLayout.JAVA_FLOAT, i, param - (mi / c1) * lr / ((float) Math.sqrt(vi / c2) + eps));
    }
  }
}
