package dev.cria.engine.optim;

/**
 * The learning rate of each optimizer step. {@code step} counts the updates already applied (0 for
 * the first), as NeMo's schedulers count.
 */
public sealed interface LearningRateSchedule {
  double at(long step);

  /** The same rate every step. */
  record Constant(double lr) implements LearningRateSchedule {
    @Override
    public double at(long step) {
      return lr;
    }
  }

  /**
   * NeMo's {@code CosineAnnealing} with linear warmup: {@code max * (s + 1) / (warmup + 1)} for
   * {@code s <= warmup}; then cosine from {@code max} down to {@code min} at {@code maxSteps}; then
   * {@code min}.
   */
  record WarmupCosine(double maxLr, double minLr, long warmupSteps, long maxSteps)
      implements LearningRateSchedule {
    public WarmupCosine {
      if (warmupSteps < 0 || maxSteps <= warmupSteps || minLr > maxLr || minLr < 0) {
        throw new IllegalArgumentException(
            "need 0 <= warmup < max steps and 0 <= min lr <= max lr, got warmup "
                + warmupSteps
                + ", max steps "
                + maxSteps
                + ", lr "
                + minLr
                + ".."
                + maxLr);
      }
    }

    @Override
    public double at(long step) {
      if (warmupSteps > 0 && step <= warmupSteps) {
        return maxLr * (step + 1) / (warmupSteps + 1);
      }
      if (step > maxSteps) {
        return minLr;
      }
      double progress = (double) (step - warmupSteps) / (maxSteps - warmupSteps);
      return minLr + (maxLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
  }
}
