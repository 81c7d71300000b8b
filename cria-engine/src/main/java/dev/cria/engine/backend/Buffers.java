package dev.cria.engine.backend;

import dev.cria.engine.tensor.Floats;

/**
 * Buffers allocated from a {@link Backend} and freed together: a model's parameters, gradients and
 * activations, an optimizer's moments, a decoder's cache. Lengths are {@code long} floats (a 7B
 * model has more than 2^31 parameters).
 */
public interface Buffers extends AutoCloseable {
  /** {@code floats} zeroed floats, 64-byte aligned, alive until {@link #close()}. */
  Floats allocate(long floats);

  /**
   * {@code elements} zeroed bf16 values ({@link dev.cria.engine.tensor.Bf16}), 64-byte aligned,
   * alive until {@link #close()}: the compute copy of the weights in mixed precision.
   */
  java.lang.foreign.MemorySegment allocateBf16(long elements);

  /** Frees every buffer this allocated. */
  @Override
  void close();
}
