package dev.cria.engine.optim;

import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;

/**
 * One of AdamW's two moments as it is stored: f32, or bf16 under bf16-sr (whose moments are bf16
 * values, so nothing is lost by holding them in two bytes). Element i belongs to parameter {@code
 * AdamW.from() + i}. Checkpoints read and write it as floats through {@link #copyTo} and {@link
 * #copyFrom}, which widen and narrow exactly for bf16 values; the update reads it through {@link
 * #view}.
 */
public final class Moment {
  private final MemorySegment data;
  private final DType dtype;
  private final long length;

  private Moment(MemorySegment data, DType dtype, long length) {
    if (data.byteSize() < length * dtype.bytes()) {
      throw new IllegalArgumentException(
          length + " " + dtype.shortName() + " elements do not fit " + data.byteSize() + " bytes");
    }
    this.data = data;
    this.dtype = dtype;
    this.length = length;
  }

  /** {@code length} floats of {@code floats}: also a checkpoint reader's buffer of moments. */
  public static Moment f32(Floats floats, long length) {
    return new Moment(floats.segment(), DType.F32, length);
  }

  /** {@code length} bf16 values of {@code data}. */
  static Moment bf16(MemorySegment data, long length) {
    return new Moment(data, DType.BF16, length);
  }

  /** How each element is stored. */
  public DType dtype() {
    return dtype;
  }

  /** Elements: the parameters of the optimizer's range. */
  public long length() {
    return length;
  }

  /** The stored elements, {@code length() * dtype().bytes()} bytes (native order). */
  public MemorySegment data() {
    return data.asSlice(0, length * dtype.bytes());
  }

  /** Element {@code offset} onwards, for a kernel. */
  public View view(long offset) {
    return new View(data, offset, dtype);
  }

  /** Element {@code i}, as a float. */
  public float get(long i) {
    return dtype == DType.F32
        ? data.getAtIndex(Floats.F32, i)
        : Bf16.widen(data.getAtIndex(Bf16.LAYOUT, i));
  }

  /** Sets element {@code i} to {@code value} (rounded to the nearest bf16 when stored so). */
  public void set(long i, float value) {
    if (dtype == DType.F32) {
      data.setAtIndex(Floats.F32, i, value);
    } else {
      data.setAtIndex(Bf16.LAYOUT, i, Bf16.round(value));
    }
  }

  /** Copies elements {@code [from, from + count)} as floats to {@code dst} at float {@code at}. */
  public void copyTo(long from, MemorySegment dst, long at, long count) {
    check(from, count);
    if (dtype == DType.F32) {
      MemorySegment.copy(data, from * Float.BYTES, dst, at * Float.BYTES, count * Float.BYTES);
    } else {
      Bf16.widen(dst, at, data, from, count);
    }
  }

  /**
   * Sets elements {@code [to, to + count)} from the floats of {@code src} at float {@code at}
   * (rounded to the nearest bf16 when stored so: exact for a bf16-sr run's checkpoint).
   */
  public void copyFrom(MemorySegment src, long at, long to, long count) {
    check(to, count);
    if (dtype == DType.F32) {
      MemorySegment.copy(src, at * Float.BYTES, data, to * Float.BYTES, count * Float.BYTES);
    } else {
      Bf16.round(data, to, src, at, count);
    }
  }

  private void check(long from, long count) {
    if (from < 0 || count < 0 || from + count > length) {
      throw new IndexOutOfBoundsException(
          "elements [" + from + ", " + (from + count) + ") of a moment of " + length);
    }
  }
}
