package dev.cria.train.metrics;

import java.io.IOException;
import java.util.Locale;

/**
 * The metrics of one rank as lines of its {@link RankLog} ({@code <run>/<rank>/log}): every step
 * with every metric under NeMo's names, validations, status lines and the failure.
 */
public final class RankLogSink implements MetricsSink {
  private final RankLog log;
  private final boolean dataParallel;

  /** Lines into {@code log}; with {@code worldSize > 1} steps also show the communication time. */
  public RankLogSink(RankLog log, int worldSize) {
    this.log = log;
    this.dataParallel = worldSize > 1;
  }

  @Override
  public void info(String line) throws IOException {
    log.line(line);
  }

  @Override
  public void note(String line) throws IOException {
    log.line(line);
  }

  @Override
  public void step(StepMetrics m) throws IOException {
    log.line(
        String.format(
            Locale.ROOT,
            "step %d/%d reduced_train_loss %.4f lr %.4e gradient_norm %.4f parameter_norm %.3f consumed_samples %d"
                + " train_step_timing %.3fs throughput %.2f samples/s tokens_per_sec %.0f mfu %.1f%%%s",
            m.step(),
            m.maxSteps(),
            m.loss(),
            m.lr(),
            m.gradientNorm(),
            m.parameterNorm(),
            m.consumedSamples(),
            m.stepSeconds(),
            m.throughput(),
            m.tokensPerSec(),
            100 * m.mfu(),
            dataParallel
                ? String.format(
                    Locale.ROOT,
                    " communication_timing %.3fs (not overlapped %.3fs)",
                    m.communicationSeconds(),
                    m.exposedCommunicationSeconds())
                : ""));
  }

  @Override
  public void validation(Validation v) throws IOException {
    log.line(
        String.format(
            Locale.ROOT,
            "validation step %d val_loss %.4f (%d batches, %.1f s)",
            v.step(),
            v.loss(),
            v.batches(),
            v.seconds()));
  }

  @Override
  public void failed(String message) throws IOException {
    log.line("failed: " + message);
  }

  @Override
  public void close() throws IOException {
    log.close();
  }
}
