package dev.cria.train.metrics;

import dev.cria.core.run.RankState;
import dev.cria.core.run.RankStatus;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Where one rank's run reports what happens: status lines, every step's metrics, validations, a
 * failure. The trainer and the checkpoint schedule talk to one sink; what it fans out to (the rank
 * log, TensorBoard on rank 0, the console, later a live status file) is decided where the run is
 * assembled ({@link #of}). Every method does nothing by default, so a sink implements what it uses.
 */
public interface MetricsSink extends AutoCloseable {
  /** A status line for the rank log and the console (the data, the model, a checkpoint saved). */
  default void info(String line) throws IOException {}

  /** A line for the rank log only (details nobody needs on the console). */
  default void note(String line) throws IOException {}

  /** The run goes on from a checkpoint of step {@code step}, before its first step here. */
  default void resumed(long step) throws IOException {}

  /** After every optimizer step. */
  default void step(StepMetrics metrics) throws IOException {}

  /** After a validation. */
  default void validation(Validation validation) throws IOException {}

  /**
   * What the model computes in ({@code 32}, {@code bf16-mixed}) and what multiplies its matrices
   * (the backend, or the bf16 product's library, kernel and ISA), once the model is built.
   */
  default void compute(String precision, String matmul) throws IOException {}

  /** Where the rank stands among the job's data- and tensor-parallel ranks, once it knows. */
  default void placed(RankStatus.Parallel where) throws IOException {}

  /** The rank starts doing something else (validating, saving, ...) or has ended. */
  default void state(RankState state) throws IOException {}

  /** The run is failing with {@code message}; the sink keeps what it can. */
  default void failed(String message) throws IOException {}

  /** Makes everything reported so far durable (at checkpoints and the end). */
  default void flush() throws IOException {}

  @Override
  default void close() throws IOException {}

  /** A warning: an info line that says so, which never fails the run. */
  default void warn(String line) {
    try {
      info("warning: " + line);
    } catch (IOException e) {
      // the log is unwritable; the warning is lost rather than the run
    }
  }

  /** One sink that reports to each of {@code sinks}, in order, and closes them all. */
  static MetricsSink of(List<MetricsSink> sinks) {
    List<MetricsSink> all = List.copyOf(sinks);
    return new MetricsSink() {
      @Override
      public void info(String line) throws IOException {
        for (MetricsSink s : all) {
          s.info(line);
        }
      }

      @Override
      public void note(String line) throws IOException {
        for (MetricsSink s : all) {
          s.note(line);
        }
      }

      @Override
      public void resumed(long step) throws IOException {
        for (MetricsSink s : all) {
          s.resumed(step);
        }
      }

      @Override
      public void step(StepMetrics metrics) throws IOException {
        for (MetricsSink s : all) {
          s.step(metrics);
        }
      }

      @Override
      public void validation(Validation validation) throws IOException {
        for (MetricsSink s : all) {
          s.validation(validation);
        }
      }

      @Override
      public void compute(String precision, String matmul) throws IOException {
        for (MetricsSink s : all) {
          s.compute(precision, matmul);
        }
      }

      @Override
      public void placed(RankStatus.Parallel where) throws IOException {
        for (MetricsSink s : all) {
          s.placed(where);
        }
      }

      @Override
      public void state(RankState state) throws IOException {
        for (MetricsSink s : all) {
          s.state(state);
        }
      }

      @Override
      public void failed(String message) throws IOException {
        for (MetricsSink s : all) {
          s.failed(message);
        }
      }

      @Override
      public void flush() throws IOException {
        for (MetricsSink s : all) {
          s.flush();
        }
      }

      @Override
      public void close() throws IOException {
        List<IOException> failures = new ArrayList<>();
        for (MetricsSink s : all) {
          try {
            s.close();
          } catch (IOException e) {
            failures.add(e);
          }
        }
        if (!failures.isEmpty()) {
          IOException first = failures.getFirst();
          failures.subList(1, failures.size()).forEach(first::addSuppressed);
          throw first;
        }
      }
    };
  }
}
