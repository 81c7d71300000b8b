package dev.cria.train;

/** Receives a run's progress, for the console. Called on the training thread. */
public interface TrainListener {
  /** A setup or status line (data, model, where files go). */
  void info(String line);

  /** After every optimizer step. */
  void step(StepMetrics metrics);

  /** After a validation. */
  void validation(long step, double loss);

  /** At the end of the run, with the final parameters (valid only during the call). */
  default void finished(dev.cria.engine.tensor.Floats parameters) {}

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
