package dev.cria.engine.model;

import dev.cria.engine.tensor.DType;
import java.util.Locale;

/**
 * The numbers a training run computes in, as {@code trainer.precision} names them (Lightning's
 * spellings, which NeMo uses).
 */
public enum Precision {
  /** Everything in fp32. */
  FP32("32"),
  /**
   * fp32 master weights, gradients and AdamW moments; the linear layers multiply bf16 copies of the
   * weights and of their inputs, products exact and sums in fp32, results fp32 (PyTorch's bf16
   * autocast; Megatron's bf16 with fp32 gradient accumulation). Norms, softmax, attention and
   * cross-entropy stay fp32.
   */
  BF16_MIXED("bf16-mixed"),
  /**
   * The blueprint's {@code bf16SR}: weights, gradients and AdamW moments are bf16 values, every
   * rounding to them stochastic (unbiased), with no fp32 master copy; the products as in {@link
   * #BF16_MIXED}. The moments are stored in bf16; the weights and gradients are held in fp32 slots,
   * so their numerics are bf16 storage's but their memory is not yet saved.
   */
  BF16_SR("bf16-sr");

  private final String text;

  Precision(String text) {
    this.text = text;
  }

  /** The dtype the linear layers multiply in: f32, or bf16 in mixed precision. */
  public DType products() {
    return this == FP32 ? DType.F32 : DType.BF16;
  }

  /** Whether weights, gradients and moments are bf16 values rounded stochastically. */
  public boolean stochasticRounding() {
    return this == BF16_SR;
  }

  /** What a run's log says of it (nothing for fp32), the products made by {@code matmul}. */
  public String describe(String matmul) {
    return switch (this) {
      case FP32 -> "";
      case BF16_MIXED ->
          "precision bf16-mixed: linear layers multiply bf16 on "
              + matmul
              + "; fp32 master weights, gradients, optimizer states";
      case BF16_SR ->
          "precision bf16-sr: linear layers multiply bf16 on "
              + matmul
              + "; weights, gradients and optimizer states bf16 values, rounded stochastically"
              + " (the optimizer states stored in bf16; the weights and gradients in fp32 slots)";
    };
  }

  /** How {@code trainer.precision} writes it: {@code 32}, {@code bf16-mixed}, {@code bf16-sr}. */
  public String text() {
    return text;
  }

  @Override
  public String toString() {
    return text;
  }

  /**
   * The precision {@code text} names: {@code 32}, {@code 32-true}, {@code fp32}; {@code bf16},
   * {@code bf16-mixed} (Lightning reads {@code bf16} as {@code bf16-mixed}); {@code bf16-sr} (the
   * blueprint's {@code bf16SR}).
   *
   * @throws IllegalArgumentException naming the value and, for a precision cria does not build, why
   *     and what to use instead
   */
  public static Precision parse(String text) {
    String t = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
    return switch (t) {
      case "32", "32-true", "fp32", "32.0" -> FP32;
      case "bf16", "bf16-mixed" -> BF16_MIXED;
      case "16", "16-mixed", "fp16", "16.0" ->
          throw new IllegalArgumentException(
              "precision "
                  + text
                  + " is fp16, which needs a loss scaler that cria does not have;"
                  + " use bf16-mixed (the same memory and speed, fp32's range) or 32");
      case "bf16-true" ->
          throw new IllegalArgumentException(
              "precision bf16-true (bf16 weights without fp32 master weights, rounded to"
                  + " nearest) is not built; use bf16-sr (the same, rounded stochastically),"
                  + " bf16-mixed or 32");
      case "bf16-sr", "bf16sr" -> BF16_SR;
      default ->
          throw new IllegalArgumentException(
              "unknown precision '"
                  + text
                  + "': use 32, bf16-mixed (bf16 means bf16-mixed) or bf16-sr");
    };
  }
}
