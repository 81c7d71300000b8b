package dev.cria.train.metrics;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The metrics as TensorBoard scalars with NeMo's tag names ({@code reduced_train_loss}, {@code lr},
 * {@code gradient_norm}, {@code parameter_norm}, {@code global_step}, {@code consumed_samples},
 * {@code throughput}, {@code throughput_peak}, {@code train_step_timing}, {@code val_loss}) and
 * cria's own ({@code tokens_per_sec}, {@code mfu}, {@code communication_timing}). Rank 0 writes
 * them. The file is flushed every {@code log_every_n_steps} steps, after validations and when
 * asked.
 */
public final class TensorBoardSink implements MetricsSink {
  private final TensorBoardWriter board;
  private final long flushEvery;
  private final boolean dataParallel;

  public TensorBoardSink(TensorBoardWriter board, long flushEvery, int worldSize) {
    this.board = board;
    this.flushEvery = flushEvery;
    this.dataParallel = worldSize > 1;
  }

  /** The event file. */
  public Path file() {
    return board.file();
  }

  @Override
  public void step(StepMetrics m) throws IOException {
    long s = m.step();
    scalar("reduced_train_loss", s, m.loss());
    scalar("lr", s, m.lr());
    scalar("gradient_norm", s, m.gradientNorm());
    scalar("parameter_norm", s, m.parameterNorm());
    scalar("global_step", s, s);
    scalar("consumed_samples", s, m.consumedSamples());
    scalar("throughput", s, m.throughput());
    scalar("throughput_peak", s, m.throughputPeak());
    scalar("train_step_timing", s, m.stepSeconds());
    scalar("tokens_per_sec", s, m.tokensPerSec());
    scalar("mfu", s, m.mfu());
    if (dataParallel) {
      scalar("communication_timing", s, m.communicationSeconds());
    }
    if (s % flushEvery == 0 || s == m.maxSteps()) {
      board.flush();
    }
  }

  @Override
  public void validation(Validation v) throws IOException {
    scalar("val_loss", v.step(), v.loss());
    board.flush();
  }

  @Override
  public void failed(String message) throws IOException {
    board.flush();
  }

  @Override
  public void flush() throws IOException {
    board.flush();
  }

  @Override
  public void close() throws IOException {
    board.close();
  }

  private void scalar(String tag, long step, double value) throws IOException {
    board.scalar(tag, step, (float) value);
  }
}
