package dev.cria.engine.backend;

/**
 * Where the draws of a stochastic AdamW update come from ({@link Kernels#adamwStochastic}): one
 * seed for each of the three arrays it rounds, and the index in the whole parameter buffer of the
 * first element updated. Element i of an array draws {@code Bf16.noise16(seed, firstIndex + i)},
 * the draw {@link Kernels#roundBf16Stochastic} gives it.
 *
 * @param parameters the parameters' seed
 * @param firstMoment the first moment's seed
 * @param secondMoment the second moment's seed
 * @param firstIndex the first element's index in the parameter layout
 */
public record StochasticDraws(
    long parameters, long firstMoment, long secondMoment, long firstIndex) {
  public StochasticDraws {
    if (firstIndex < 0) {
      throw new IllegalArgumentException("firstIndex must be zero or more, got " + firstIndex);
    }
  }
}
