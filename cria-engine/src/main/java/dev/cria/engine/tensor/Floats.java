package dev.cria.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A flat off-heap array of floats: a 64-byte aligned {@link MemorySegment} with element indices as
 * {@code long}. Kernels take views of it ({@link View#of}); this class adds the bits of convenience
 * that callers and tests need.
 */
public final class Floats {
  public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

  private final MemorySegment segment;
  private final long length;

  private Floats(MemorySegment segment, long length) {
    this.segment = segment;
    this.length = length;
  }

  /** {@code length} zeroed floats in {@code arena}. */
  public static Floats allocate(Arena arena, long length) {
    return new Floats(arena.allocate(length * Float.BYTES, 64), length);
  }

  /** Floats over an existing segment (its byte size must be a multiple of 4). */
  public static Floats wrap(MemorySegment segment) {
    return new Floats(segment, segment.byteSize() / Float.BYTES);
  }

  /** A heap-backed copy of {@code values}, for tests and small data. */
  public static Floats of(float... values) {
    Floats f = new Floats(MemorySegment.ofArray(values.clone()), values.length);
    return f;
  }

  public MemorySegment segment() {
    return segment;
  }

  public long length() {
    return length;
  }

  public float get(long i) {
    return segment.getAtIndex(F32, i);
  }

  public void set(long i, float v) {
    segment.setAtIndex(F32, i, v);
  }

  public void fill(float v) {
    if (v == 0f) {
      segment.fill((byte) 0);
    } else {
      for (long i = 0; i < length; i++) {
        set(i, v);
      }
    }
  }

  /** Copies {@code count} floats from {@code source[from]} to {@code this[to]}. */
  public void copyFrom(Floats source, long from, long to, long count) {
    MemorySegment.copy(
        source.segment, from * Float.BYTES, segment, to * Float.BYTES, count * Float.BYTES);
  }

  /** Floats {@code [from, from + count)} as a new Java array (count below 2^31). */
  public float[] toArray(long from, int count) {
    float[] out = new float[count];
    MemorySegment.copy(segment, F32, from * Float.BYTES, out, 0, count);
    return out;
  }

  /** Writes {@code values} starting at element {@code to}. */
  public void copyFrom(float[] values, long to) {
    MemorySegment.copy(values, 0, segment, F32, to * Float.BYTES, values.length);
  }
}
