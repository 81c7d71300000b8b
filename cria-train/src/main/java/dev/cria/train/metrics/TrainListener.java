package dev.cria.train.metrics;

/** Receives a run's progress, for the console. Called on the training thread. */
public interface TrainListener {
  /** A setup or status line (data, model, where files go). */
  void info(String line);

  /** After every optimizer step. */
  void step(StepMetrics metrics);

  /** After a validation. */
  void validation(long step, double loss);

  /**
   * At the end of the run, with the final parameters this rank holds (valid only during the call):
   * all of its slice, or under ZeRO-3 only its shards, the rest reading zeros.
   */
  default void finished(dev.cria.engine.tensor.Floats parameters) {}

  /**
   * This listener as a sink: status lines, steps and validations reach it; log-only lines do not.
   */
  default MetricsSink asSink() {
    TrainListener listener = this;
    return new MetricsSink() {
      @Override
      public void info(String line) {
        listener.info(line);
      }

      @Override
      public void step(StepMetrics metrics) {
        listener.step(metrics);
      }

      @Override
      public void validation(Validation validation) {
        listener.validation(validation.step(), validation.loss());
      }
    };
  }

  /** A listener that ignores everything (ranks other than 0 print nothing per step). */
  static TrainListener silent() {
    return new TrainListener() {
      @Override
      public void info(String line) {}

      @Override
      public void step(StepMetrics metrics) {}

      @Override
      public void validation(long step, double loss) {}
    };
  }
}
