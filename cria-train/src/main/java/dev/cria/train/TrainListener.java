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
}
