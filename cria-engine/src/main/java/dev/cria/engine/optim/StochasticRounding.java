package dev.cria.engine.optim;

import dev.cria.engine.backend.Kernels;
import dev.cria.engine.model.Precision;
import dev.cria.engine.tensor.View;

/**
 * bf16 storage with stochastic rounding, the blueprint's {@code bf16SR}: every value the optimizer
 * writes (parameters, both moments) and every gradient it reads is rounded to a bf16 value, up or
 * down at random in proportion to where it lies between the two ({@link
 * Kernels#roundBf16Stochastic}), so that updates far smaller than a bf16 step still move a weight
 * on average. The draws come from {@code seed}, the step and which array is rounded, and each
 * element's index in the whole parameter buffer: the same on every rank and shard layout, and again
 * on resume.
 *
 * @param seed the run's seed
 */
public record StochasticRounding(long seed) {
  /** What is rounded: each draws from a stream of its own. */
  public enum Stream {
    PARAMETERS,
    FIRST_MOMENT,
    SECOND_MOMENT,
    GRADIENTS
  }

  /** The rounding {@code precision} stores with, from the run's {@code seed}; null for none. */
  public static StochasticRounding forPrecision(Precision precision, long seed) {
    return precision.stochasticRounding() ? new StochasticRounding(seed) : null;
  }

  /** The seed of step {@code step}'s draws for {@code stream}. */
  public long seed(long step, Stream stream) {
    long z =
        seed ^ (step * 0xD1B5_4A32_D192_ED03L) ^ ((stream.ordinal() + 1) * 0xAEF1_7502_108E_F2D9L);
    z = (z ^ (z >>> 32)) * 0xD6E8_FEB8_6659_FD93L;
    return z ^ (z >>> 32);
  }

  /**
   * Rounds {@code count} elements at {@code x}, which are elements {@code [firstIndex, firstIndex +
   * count)} of the parameter layout, for step {@code step}.
   */
  public void round(
      Kernels kernels, View x, long count, long firstIndex, long step, Stream stream) {
    kernels.roundBf16Stochastic(x, count, seed(step, stream), firstIndex);
  }
}
