package dev.cria.train.checkpoint;

import dev.cria.core.run.RankState;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.LearningRateSchedule;
import dev.cria.engine.parallel.Collective;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.metrics.MetricsSink;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * When and how one rank saves checkpoints (the config's {@code checkpoint} section): every {@code
 * save_interval} steps, every {@code save_interval_minutes} of wall clock (rank 0's clock decides;
 * the trainer agrees on it with the stop flag), at the end and on a stop request. Periodic saves go
 * to the background with {@code async_save}; the saves at the end and on a stop are made before the
 * run returns. It remembers the last step saved, so none is saved twice.
 *
 * <p>A model split by tensor parallelism is saved whole: before each save the job gathers it on its
 * rank 0 ({@link WholeModel}), which saves it as a group of one would; the other ranks only send
 * their slices and shards (and wait for a save made before returning).
 */
public final class SaveSchedule implements AutoCloseable {
  private final TrainConfig config;
  private final Collective group;
  private final LlamaModel model;
  private final List<AdamW> optimizer;
  private final MetricsSink metrics;
  private final Checkpointer checkpointer; // null on a tensor-parallel rank that only sends
  private final WholeModel whole; // null without tensor parallelism
  private final Path runDir;
  private long lastSaved;
  private long lastSaveNanos = System.nanoTime();
  private Path last;

  /**
   * The schedule of a run whose first step is {@code firstStep + 1}; with {@code async_save} the
   * snapshot that background saves copy into is allocated now, before training.
   */
  public SaveSchedule(
      Path runDir,
      TrainConfig config,
      Collective group,
      LlamaModel model,
      List<AdamW> optimizer,
      MetricsSink metrics,
      long firstStep)
      throws IOException {
    this(runDir, config, group, model, optimizer, metrics, firstStep, null);
  }

  /**
   * As above for a model split by tensor parallelism, saved whole through {@code whole} (null
   * without): {@code group} is then the job's group, whose rank 0 saves as a group of one would,
   * and otherwise the data-parallel group, whose ranks save a shard of the moments each.
   */
  public SaveSchedule(
      Path runDir,
      TrainConfig config,
      Collective group,
      LlamaModel model,
      List<AdamW> optimizer,
      MetricsSink metrics,
      long firstStep,
      WholeModel whole)
      throws IOException {
    this.config = config;
    this.group = group;
    this.model = model;
    this.optimizer = optimizer;
    this.metrics = metrics;
    this.whole = whole;
    int keep = config.checkpoint().keepLast();
    this.checkpointer =
        whole == null
            ? new Checkpointer(runDir, group, keep)
            : whole.holdsIt() ? new Checkpointer(runDir, Collective.single(), keep) : null;
    this.runDir = runDir;
    this.lastSaved = firstStep;
    if (config.checkpoint().asyncSave() && whole != null) {
      metrics.info(
          "checkpoint.async_save: a tensor-parallel or ZeRO-3 run writes its checkpoints in the"
              + " foreground (rank 0 gathers and writes the model a tensor at a time, through the job's"
              + " collectives, which one thread uses at a time)");
    } else if (config.checkpoint().asyncSave()) {
      long t0 = System.nanoTime();
      long bytes = checkpointer.allocateSnapshot(model.parameters(), optimizer);
      // every rank's own log; the console shows rank 0's
      metrics.info(
          String.format(
              Locale.ROOT,
              "checkpoints are written in the background from a %.0f MB copy"
                  + " (allocated in %.1f s)",
              bytes / 1e6,
              (System.nanoTime() - t0) / 1e9));
    }
  }

  /** Whether the wall-clock interval has passed (rank 0's clock; the ranks agree on it). */
  public boolean timeDue() {
    double minutes = config.checkpoint().saveIntervalMinutes();
    return group.rank() == 0 && minutes > 0 && System.nanoTime() - lastSaveNanos >= minutes * 60e9;
  }

  /** Whether {@code save_interval} asks for a save after {@code step}. */
  public boolean stepDue(long step) {
    long every = config.checkpoint().saveInterval();
    return every > 0 && step % every == 0;
  }

  /** The newest checkpoint this run saved, or null. */
  public Path last() {
    return last;
  }

  /** A periodic save: in the background when the config says so. */
  public void periodic(long step, long consumed, double lastLoss, LearningRateSchedule schedule)
      throws IOException {
    save(step, consumed, lastLoss, schedule, config.checkpoint().asyncSave());
  }

  /** A save made before returning (at the end, on a stop request). */
  public void now(long step, long consumed, double lastLoss, LearningRateSchedule schedule)
      throws IOException {
    save(step, consumed, lastLoss, schedule, false);
  }

  private void save(
      long step, long consumed, double lastLoss, LearningRateSchedule schedule, boolean background)
      throws IOException {
    if (step <= lastSaved) {
      return;
    }
    if (checkpointer != null) {
      report(checkpointer.awaitBackground());
    }
    metrics.flush(); // the metrics up to the checkpoint survive whatever ends the process
    if (whole != null) {
      saveWhole(step, consumed, lastLoss, schedule);
      return;
    }
    TrainingState state = state(step, consumed, lastLoss, schedule, group.worldSize());
    Checkpointer.Contents contents =
        new Checkpointer.Contents(
            state,
            TrainConfigFile.toYaml(config),
            config.model().tokenizer() == null ? null : Path.of(config.model().tokenizer()),
            model.layout(),
            model.parameters());
    List<AdamW> saved = optimizer;
    lastSaved = step;
    lastSaveNanos = System.nanoTime();
    if (background) {
      long t0 = System.nanoTime();
      checkpointer.saveInBackground(contents, saved);
      metrics.info(
          String.format(
              Locale.ROOT,
              "checkpoint of step %d: copied in %.2f s, being written in the" + " background",
              step,
              (System.nanoTime() - t0) / 1e9));
    } else {
      metrics.state(RankState.SAVING);
      report(checkpointer.save(contents, saved));
      metrics.state(RankState.TRAINING);
    }
  }

  /**
   * A tensor-parallel save, every rank of the job at once: rank 0 writes the model as the job
   * gathers it a tensor at a time ({@link Checkpointer#saveStreamed}), the others send their slices
   * and shards and wait for the save.
   */
  private void saveWhole(long step, long consumed, double lastLoss, LearningRateSchedule schedule)
      throws IOException {
    // rank 0 may first have waited for an earlier save; the others wait for it here, not in the
    // gather's collectives, whose timeout is the usual one
    group.barrier(Checkpointer.PATIENCE);
    long t0 = System.nanoTime();
    lastSaved = step;
    lastSaveNanos = System.nanoTime();
    if (checkpointer == null) {
      for (int i = 0; i < whole.layout().tensors().size(); i++) {
        whole.gather(i, true);
      }
      metrics.info(
          String.format(
              Locale.ROOT,
              "checkpoint of step %d: this rank's slice and shards sent to rank 0 (%.2f s), which"
                  + " writes the whole model a tensor at a time",
              step,
              (System.nanoTime() - t0) / 1e9));
    } else {
      Checkpointer.Contents contents =
          new Checkpointer.Contents(
              state(step, consumed, lastLoss, schedule, 1), // one rank's files
              TrainConfigFile.toYaml(config),
              config.model().tokenizer() == null ? null : Path.of(config.model().tokenizer()),
              whole.layout(),
              null);
      metrics.state(RankState.SAVING);
      report(checkpointer.saveStreamed(contents, whole));
      metrics.state(RankState.TRAINING);
    }
    group.barrier(Checkpointer.PATIENCE); // rank 0 has saved it
    last = Checkpoints.stepDirectory(runDir, step);
  }

  /** The training state a checkpoint of {@code step} records, saved by {@code ranks} ranks. */
  private TrainingState state(
      long step, long consumed, double lastLoss, LearningRateSchedule schedule, int ranks) {
    return new TrainingState(
        step,
        consumed,
        optimizer.getFirst().steps(),
        ranks,
        config.trainer().seed(),
        schedule.at(step - 1),
        String.format(
            Locale.ROOT,
            "linear warmup over %d steps to %s, cosine to %s at step %d",
            config.optim().warmupSteps(),
            config.optim().lr(),
            config.optim().minLr(),
            config.trainer().maxSteps() - config.optim().constantSteps()),
        lastLoss);
  }

  /** Reports a background save that has finished since the last step. */
  public void poll() throws IOException {
    if (checkpointer != null && !checkpointer.busy()) {
      report(checkpointer.awaitBackground());
    }
  }

  private void report(Checkpointer.Saved saved) throws IOException {
    if (saved == null) {
      return;
    }
    last = saved.dir();
    metrics.info(
        String.format(
            Locale.ROOT,
            "checkpoint saved: %s (%s %.0f MB, %.1f s)",
            saved.dir(),
            group.rank() == 0 ? "all files" : "this rank's shard",
            saved.bytes() / 1e6,
            saved.seconds()));
    for (Path p : saved.pruned()) { // rank 0 prunes
      metrics.note(
          "removed old checkpoint " + p + " (keep_last " + config.checkpoint().keepLast() + ")");
    }
  }

  /** After a failure: a minute for a background save to finish, then it is interrupted. */
  public void abandon() {
    if (checkpointer != null) {
      checkpointer.abandonBackground(Duration.ofMinutes(1));
    }
  }

  /** Waits for a background save (reporting it) and frees its snapshot. */
  @Override
  public void close() throws IOException {
    if (checkpointer == null) {
      return;
    }
    try {
      report(checkpointer.awaitBackground());
    } finally {
      checkpointer.close();
    }
  }
}
