package dev.cria.train;

import dev.cria.engine.parallel.Collective;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.distributed.CountedCollective;
import dev.cria.train.metrics.MetricsSink;
import dev.cria.train.metrics.RankLog;
import dev.cria.train.metrics.RankLogSink;
import dev.cria.train.metrics.StatusSink;
import dev.cria.train.metrics.TensorBoardSink;
import dev.cria.train.metrics.TrainListener;
import dev.cria.train.metrics.TrainerStatusSink;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** Where one rank of a run reports, opened together. */
final class RankSinks {
  private RankSinks() {}

  /**
   * TensorBoard ({@code board}, rank 0's; null on the others), the rank log, the listener (the
   * console), the status file (rewritten every {@code distributed.heartbeat_seconds} when nothing
   * else rewrites it) and, on rank 0, the TrainJob's status where Kubeflow Trainer asks for it.
   * When one cannot be opened, those already open (the event file among them) are closed.
   */
  static MetricsSink open(
      RunDirectory run,
      Collective group,
      TrainListener listener,
      TensorBoardSink board,
      TrainConfig config)
      throws IOException {
    List<MetricsSink> sinks = new ArrayList<>();
    if (board != null) {
      sinks.add(board);
    }
    try {
      sinks.add(new RankLogSink(RankLog.open(run.root(), group.rank()), group.worldSize()));
      sinks.add(listener.asSink());
      sinks.add(
          new StatusSink(
              run.root(),
              group.rank(),
              group.worldSize(),
              config.trainer().maxSteps(),
              config.distributed().heartbeat(),
              group instanceof CountedCollective counted ? counted::entered : () -> 0));
      MetricsSink local = MetricsSink.of(sinks);
      return group.rank() == 0 ? TrainerStatusSink.besides(local, System.getenv()) : local;
    } catch (IOException | RuntimeException e) {
      try {
        MetricsSink.of(sinks).close();
      } catch (IOException closing) {
        e.addSuppressed(closing);
      }
      throw e;
    }
  }
}
