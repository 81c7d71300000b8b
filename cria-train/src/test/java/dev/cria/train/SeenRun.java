package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.tensor.Floats;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.metrics.StepMetrics;
import dev.cria.train.metrics.TrainListener;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongPredicate;

/**
 * What rank 0 of a run saw: losses and validations by step, the final parameters, the info lines;
 * and {@link #train}, a one-process run that may crash after a chosen step, for the resume tests.
 */
final class SeenRun implements TrainListener {
  final Map<Long, Double> losses = new LinkedHashMap<>();
  final Map<Long, Double> validations = new LinkedHashMap<>();
  final List<String> info = new ArrayList<>();
  final LongPredicate crashAfter;
  float[] parameters;
  long lastStep;

  SeenRun(LongPredicate crashAfter) {
    this.crashAfter = crashAfter;
  }

  /**
   * Trains {@code c} in this process from {@code start}, crashing after a step {@code crashAfter}
   * accepts.
   */
  static SeenRun train(TrainConfig c, TrainStart start, LongPredicate crashAfter)
      throws IOException {
    SeenRun seen = new SeenRun(crashAfter);
    try (TrainingSetup setup = TrainingSetup.prepare(c, 1, line -> {})) {
      RunDirectory run = RunDirectory.create(c, false, start.resume());
      new Trainer(setup, run, seen, () -> false).run(start);
    } catch (IllegalStateException e) {
      assertThat(e).hasMessageStartingWith("simulated crash");
    }
    return seen;
  }

  @Override
  public void info(String line) {
    info.add(line);
  }

  @Override
  public void step(StepMetrics m) {
    losses.put(m.step(), m.loss());
    lastStep = m.step();
    if (crashAfter.test(m.step())) {
      throw new IllegalStateException("simulated crash after step " + m.step());
    }
  }

  @Override
  public void validation(long step, double loss) {
    validations.put(step, loss);
  }

  @Override
  public void finished(Floats p) {
    parameters = p.toArray(0, (int) p.length());
  }
}
