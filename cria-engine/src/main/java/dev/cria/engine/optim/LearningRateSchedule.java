package dev.cria.engine.optim;

/**
 * The learning rate of each optimizer step. {@code step} counts the updates already applied (0 for
 * the first), as NeMo's schedulers count.
 */
public sealed interface LearningRateSchedule {
  double at(long step);

  /**
   * NeMo's {@code CosineAnnealing} as its config describes it: {@link WarmupCosine} when {@code
   * constantSteps} is 0, else {@link MegatronCosine} (NeMo switches to Megatron-LM's warmup and
   * holds {@code minLr} for the last {@code constantSteps}).
   */
  static LearningRateSchedule cosineAnnealing(
      double maxLr, double minLr, long warmupSteps, long constantSteps, long maxSteps) {
    return constantSteps == 0
        ? new WarmupCosine(maxLr, minLr, warmupSteps, maxSteps)
        : new MegatronCosine(maxLr, minLr, warmupSteps, maxSteps - warmupSteps - constantSteps);
  }

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

  /**
   * Megatron-LM's warmup and cosine, which NeMo's {@code CosineAnnealing} uses when it has constant
   * steps: {@code max * s / warmup} for {@code s <= warmup} (0 at the first step), cosine from
   * {@code max} to {@code min} over {@code decaySteps}, then {@code min}.
   */
  record MegatronCosine(double maxLr, double minLr, long warmupSteps, long decaySteps)
      implements LearningRateSchedule {
    public MegatronCosine {
      if (warmupSteps < 0 || decaySteps < 1 || minLr > maxLr || minLr < 0) {
        throw new IllegalArgumentException(
            "need 0 <= warmup, 1 <= decay steps and 0 <= min lr <= max lr, got warmup "
                + warmupSteps
                + ", decay steps "
                + decaySteps
                + ", lr "
                + minLr
                + ".."
                + maxLr);
      }
    }

    @Override
    public double at(long step) {
      if (warmupSteps > 0 && step <= warmupSteps) {
        return maxLr * step / warmupSteps;
      }
      if (step > warmupSteps + decaySteps) {
        return minLr;
      }
      double ratio = (double) (step - warmupSteps) / decaySteps;
      return minLr + (maxLr - minLr) * 0.5 * (Math.cos(Math.PI * ratio) + 1);
    }
  }
}
