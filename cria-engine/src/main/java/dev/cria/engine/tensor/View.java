package dev.cria.engine.tensor;

import java.lang.foreign.MemorySegment;

/**
 * Where a tensor starts: a buffer and an element offset into it (floats, {@code long}). Kernels
 * with many operands take views instead of (segment, offset) pairs; the shape travels in a record
 * of its own (for example {@link dev.cria.engine.backend.AttentionShape}).
 *
 * @param buffer the whole buffer, native-order floats
 * @param offset the first element of the tensor, in floats
 */
public record View(MemorySegment buffer, long offset) {
  public View {
    if (offset < 0) {
      throw new IllegalArgumentException("offset must not be negative, got " + offset);
    }
  }

  /** Element {@code offset} of {@code floats}. */
  public static View of(Floats floats, long offset) {
    return new View(floats.segment(), offset);
  }

  /** The view {@code elements} further on. */
  public View plus(long elements) {
    return new View(buffer, offset + elements);
  }
}
