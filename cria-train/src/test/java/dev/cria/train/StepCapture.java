package dev.cria.train;

import dev.cria.engine.tensor.Floats;
import dev.cria.train.metrics.StepMetrics;
import dev.cria.train.metrics.TrainListener;
import java.util.ArrayList;
import java.util.List;

/**
 * A listener that keeps what one rank's run said: each step's loss and gradient norm, its lines,
 * its last parameters.
 */
final class StepCapture implements TrainListener {
  final List<Double> losses = new ArrayList<>();
  final List<Double> norms = new ArrayList<>();
  final List<String> info = new ArrayList<>();
  float[] parameters;

  @Override
  public void info(String line) {
    info.add(line);
  }

  @Override
  public void step(StepMetrics m) {
    losses.add(m.loss());
    norms.add(m.gradientNorm());
  }

  @Override
  public void validation(long step, double loss) {}

  @Override
  public void finished(Floats p) {
    parameters = p.toArray(0, (int) p.length());
  }
}
