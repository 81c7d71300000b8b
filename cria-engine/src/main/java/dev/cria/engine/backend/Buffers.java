package dev.cria.engine.backend;

import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;

/**
 * A backend's memory: buffers allocated from it and freed together (a model's parameters, gradients
 * and activations, an optimizer's moments, a decoder's cache), and the ways to fill, move and read
 * them. Lengths and offsets are {@code long} elements (a 7B model has more than 2^31 parameters).
 *
 * <p>Code above the backends (the model, the optimizer, the decoder) reaches memory only through
 * these methods and the {@link Kernels}, never through host addresses, so that a backend whose
 * buffers are not this process's memory (a GPU's) implements this interface and nothing above it
 * changes. {@link #zero}, {@link #copy}, {@link #upload} and {@link #download} take views of any
 * buffer of the same backend (and {@link #copy}, of a host buffer a caller wraps as a view, such as
 * a mapped checkpoint file).
 */
public interface Buffers extends AutoCloseable {
  /** {@code floats} zeroed floats, 64-byte aligned, alive until {@link #close()}. */
  Floats allocate(long floats);

  /**
   * {@code elements} zeroed elements of {@code dtype}, 64-byte aligned, alive until {@link
   * #close()}: a view of the first. For example the bf16 compute copy of the weights in mixed
   * precision, or bf16-sr's moments.
   */
  View allocate(DType dtype, long elements);

  /** Sets {@code count} elements from {@code at} to zero (+0 in every dtype). */
  void zero(View at, long count);

  /**
   * Copies {@code count} elements from {@code from} to {@code to}: of one dtype, which may overlap;
   * or converting, bf16 to f32 exactly, f32 to bf16 to the nearest value, ties to even ({@link
   * dev.cria.engine.tensor.Bf16#round(float)}), which must not overlap. Other pairs (i32 with a
   * float) are refused.
   */
  void copy(View from, View to, long count);

  /**
   * Writes {@code values} to the elements from {@code to} on (rounded to the nearest bf16, ties to
   * even, when {@code to} is bf16). The array is read before this returns: the caller may reuse it.
   */
  void upload(float[] values, View to);

  /**
   * Writes {@code ids} to the i32 elements from {@code to} on: a micro-batch's tokens. The array is
   * read before this returns.
   */
  void upload(int[] ids, View to);

  /**
   * The {@code count} f32 or bf16 elements from {@code from} on, as floats (bf16 widened exactly).
   */
  float[] download(View from, int count);

  /** Frees every buffer this allocated. */
  @Override
  void close();
}
