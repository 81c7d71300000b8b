package dev.cria.train.distributed;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one arithmetic of the host collectives: adding floats that arrived from a peer into a buffer,
 * lane by lane (an add rounds the same in a vector and alone, so the result does not depend on the
 * vector width).
 */
final class HostSum {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

  private HostSum() {}

  /** {@code dst[at, at+bytes) += src[from, from+bytes)} as floats. */
  static void add(MemorySegment dst, long at, MemorySegment src, long from, long bytes) {
    long i = 0;
    long vectorBytes = (long) S.length() * Float.BYTES;
    for (; i + vectorBytes <= bytes; i += vectorBytes) {
      FloatVector.fromMemorySegment(S, dst, at + i, NATIVE)
          .add(FloatVector.fromMemorySegment(S, src, from + i, NATIVE))
          .intoMemorySegment(dst, at + i, NATIVE);
    }
    for (; i < bytes; i += Float.BYTES) {
      dst.set(
          ValueLayout.JAVA_FLOAT_UNALIGNED,
          at + i,
          dst.get(ValueLayout.JAVA_FLOAT_UNALIGNED, at + i)
              + src.get(ValueLayout.JAVA_FLOAT_UNALIGNED, from + i));
    }
  }
}
