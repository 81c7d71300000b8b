package dev.cria.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Where a tensor starts: a buffer, an element offset into it ({@code long}) and the {@link DType}
 * of its elements, which the offset counts in (floats in an f32 view, bf16 values in a bf16 one).
 * Every kernel takes its operands as views and checks their dtypes; the shape travels in size
 * parameters or a record of its own (for example {@link dev.cria.engine.backend.AttentionShape}).
 *
 * @param buffer the whole buffer, read as native-order elements of {@code dtype} (a buffer may be
 *     read as another dtype than it was allocated in: {@link #as})
 * @param offset the first element of the tensor, in elements of {@code dtype}: from 0 to the
 *     buffer's end (where only an empty tensor starts)
 * @param dtype the number format of the elements
 */
public record View(MemorySegment buffer, long offset, DType dtype) {
  public View {
    Objects.requireNonNull(buffer, "buffer");
    Objects.requireNonNull(dtype, "dtype");
    if (offset < 0) {
      throw new IllegalArgumentException("offset must not be negative, got " + offset);
    }
    if (offset > buffer.byteSize() / dtype.bytes()) {
      throw new IllegalArgumentException(
          "offset "
              + offset
              + " ("
              + dtype.shortName()
              + ") is past the end of a buffer of "
              + buffer.byteSize()
              + " bytes");
    }
  }

  /** Element {@code offset} of an fp32 {@code buffer}. */
  public static View f32(MemorySegment buffer, long offset) {
    return new View(buffer, offset, DType.F32);
  }

  /** Element {@code offset} of a bf16 {@code buffer}. */
  public static View bf16(MemorySegment buffer, long offset) {
    return new View(buffer, offset, DType.BF16);
  }

  /** Element {@code offset} of an i32 {@code buffer} (token ids). */
  public static View i32(MemorySegment buffer, long offset) {
    return new View(buffer, offset, DType.I32);
  }

  /** Element {@code offset} of {@code floats} (f32). */
  public static View of(Floats floats, long offset) {
    return f32(floats.segment(), offset);
  }

  /** Where the tensor starts in the buffer, in bytes. */
  public long byteOffset() {
    return offset * dtype.bytes();
  }

  /**
   * This view when its dtype is {@code expected}; else an {@link IllegalArgumentException} that
   * names {@code operand} and the dtype it got. How a kernel checks its operands.
   */
  public View require(DType expected, String operand) {
    if (dtype != expected) {
      throw new IllegalArgumentException(
          operand + " must be " + expected.shortName() + ", got " + dtype.shortName());
    }
    return this;
  }

  /**
   * The same bytes read as {@code other}: the offset recounted in its elements (the byte offset
   * must be a whole number of them). How a kernel's bf16 output reuses an f32 scratch area, and how
   * bf16 rows travel through a collective that counts floats.
   */
  public View as(DType other) {
    long bytes = byteOffset();
    if (bytes % other.bytes() != 0) {
      throw new IllegalArgumentException(
          "byte "
              + bytes
              + " is not the start of a "
              + other.shortName()
              + " element ("
              + other.bytes()
              + " bytes each)");
    }
    return new View(buffer, bytes / other.bytes(), other);
  }

  /** The view {@code elements} further on, of the same dtype. */
  public View plus(long elements) {
    return new View(buffer, offset + elements, dtype);
  }
}
