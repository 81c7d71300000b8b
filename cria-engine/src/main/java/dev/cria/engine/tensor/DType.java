package dev.cria.engine.tensor;

/**
 * The number format of a tensor's elements, as a {@link View} carries it: what the view's offset
 * counts and how a kernel reads the buffer. fp32 for everything the engine keeps (parameters,
 * gradients, moments, activations); bf16 for the compute copy of the weights in mixed precision and
 * bf16-sr's moments; i32 for token ids and targets.
 */
public enum DType {
  /** IEEE binary32, native order ({@link Floats}). */
  F32(Float.BYTES, "f32"),
  /** bfloat16, the upper half of an fp32, native order ({@link Bf16}). */
  BF16(Bf16.BYTES, "bf16"),
  /** 32-bit two's-complement integers, native order: token ids and targets. */
  I32(Integer.BYTES, "i32");

  private final int bytes;
  private final String shortName;

  DType(int bytes, String shortName) {
    this.bytes = bytes;
    this.shortName = shortName;
  }

  /** Bytes per element. */
  public int bytes() {
    return bytes;
  }

  /** The name messages and logs use: {@code f32}, {@code bf16}. */
  public String shortName() {
    return shortName;
  }
}
