package dev.cria.engine.optim;

import dev.cria.engine.backend.Buffers;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;

/**
 * One of AdamW's two moments as it is stored: f32, or bf16 under bf16-sr (whose moments are bf16
 * values, so nothing is lost by holding them in two bytes). Element i belongs to parameter {@code
 * AdamW.from() + i}. It lives in a backend's buffers and is reached through them: the update
 * through {@link #view}; a tensor-parallel checkpoint's gathering and a resume that cuts slices as
 * floats through {@link #copyTo} and {@link #copyFrom}, which widen and narrow exactly for bf16
 * values. A checkpoint's shards are written from, and read into, its bytes as they are stored.
 */
public final class Moment {
  private final Buffers buffers;
  private final View data;
  private final long length;

  private Moment(Buffers buffers, View data, long length) {
    if (data.offset() != 0) {
      throw new IllegalArgumentException("a moment starts its buffer, not at " + data.offset());
    }
    this.buffers = buffers;
    this.data = data;
    this.length = length;
  }

  /**
   * {@code length} floats of {@code floats}, one of {@code buffers}' or a host buffer of the same
   * backend: also a checkpoint reader's buffer of moments.
   */
  public static Moment f32(Buffers buffers, Floats floats, long length) {
    if (floats.length() < length) {
      throw new IllegalArgumentException(
          length + " f32 elements do not fit a buffer of " + floats.length());
    }
    return new Moment(buffers, View.of(floats, 0), length);
  }

  /** {@code length} bf16 values, newly allocated from {@code buffers} (at least one). */
  static Moment bf16(Buffers buffers, long length) {
    return new Moment(buffers, buffers.allocate(DType.BF16, Math.max(1, length)), length);
  }

  /** How each element is stored. */
  public DType dtype() {
    return data.dtype();
  }

  /** Elements: the parameters of the optimizer's range. */
  public long length() {
    return length;
  }

  /** Element {@code offset} onwards, for a kernel (or a checkpoint's bytes, on a host backend). */
  public View view(long offset) {
    return data.plus(offset);
  }

  /** Element {@code i}, as a float (a download of one element: for tests and checks). */
  public float get(long i) {
    check(i, 1);
    return buffers.download(data.plus(i), 1)[0];
  }

  /** Sets element {@code i} to {@code value} (rounded to the nearest bf16 when stored so). */
  public void set(long i, float value) {
    check(i, 1);
    buffers.upload(new float[] {value}, data.plus(i));
  }

  /** Copies elements {@code [from, from + count)} as floats to the f32 {@code dst}. */
  public void copyTo(long from, View dst, long count) {
    check(from, count);
    buffers.copy(data.plus(from), dst.require(DType.F32, "a moment's copy"), count);
  }

  /**
   * Sets elements {@code [to, to + count)} from the f32 {@code src} (rounded to the nearest bf16
   * when stored so: exact for a bf16-sr run's checkpoint).
   */
  public void copyFrom(View src, long to, long count) {
    check(to, count);
    buffers.copy(src.require(DType.F32, "a moment's copy"), data.plus(to), count);
  }

  private void check(long from, long count) {
    if (from < 0 || count < 0 || from + count > length) {
      throw new IndexOutOfBoundsException(
          "elements [" + from + ", " + (from + count) + ") of a moment of " + length);
    }
  }
}
