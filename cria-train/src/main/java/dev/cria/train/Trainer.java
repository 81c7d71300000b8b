package dev.cria.train;

import dev.cria.data.gpt.GptSamples;
import dev.cria.engine.io.HfConfig;
import dev.cria.engine.io.HfModelFiles;
import dev.cria.engine.io.SafetensorsException;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.train.checkpoint.Checkpoint;
import dev.cria.train.checkpoint.CheckpointException;
import dev.cria.train.checkpoint.Checkpointer;
import dev.cria.train.checkpoint.Checkpoints;
import dev.cria.train.checkpoint.Manifest;
import dev.cria.train.checkpoint.TrainingState;
import dev.cria.train.config.TrainConfigFile;
import java.nio.file.Files;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import dev.cria.train.distributed.CollectiveException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import dev.cria.engine.optim.GradientClipping;
import dev.cria.engine.optim.LearningRateSchedule;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.metrics.RankLog;
import dev.cria.train.metrics.TensorBoardWriter;
import dev.cria.train.metrics.ThroughputWindow;
import dev.cria.train.distributed.Collective;
import dev.cria.train.distributed.RankEnvironment;
import dev.cria.train.distributed.TcpCollective;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * The training loop of one data-parallel rank (today: one rank), as NeMo's Megatron GPT
 * pretraining runs it: each optimizer step takes the next global batch in Megatron's sample order,
 * accumulates gradients over its micro-batches, clips the global norm, and applies AdamW at the
 * warmup-cosine learning rate. Validation runs on the first {@code limit_val_batches} global
 * batches of the valid split, every {@code val_check_interval} steps and at the end.
 *
 * <p>Every step is written to {@code <run>/<rank>/log} and to TensorBoard with NeMo's metric names.
 * A stop request (Ctrl-C, SIGTERM) is honoured after the current step, with metrics flushed.
 */
public final class Trainer {
  /** NeMo's throughput window: 10 steps. */
  private static final int WINDOW = 10;

  private final TrainingSetup setup;
  private final RunDirectory run;
  private final TrainListener listener;
  private final BooleanSupplier stopRequested;
  private final Collective group;
  private TensorBoardWriter board; // rank 0 only
  private double communicationSeconds; // of the last step's gradient and parameter collectives
  private double exposedCommunicationSeconds; // of those, the time the step waited for them
  private final MemorySegment scalar = Arena.ofAuto().allocate(2 * Float.BYTES); // for sums of a value or two over the ranks

  /** A trainer for a single process. */
  public Trainer(TrainingSetup setup, RunDirectory run, TrainListener listener, BooleanSupplier stopRequested) {
    this(setup, run, listener, stopRequested, TcpCollective.join(RankEnvironment.single(), Duration.ZERO,
        Duration.ZERO));
  }

  /**
   * A trainer for rank {@code group.rank()} of a data-parallel group: every rank takes its slice of
   * each global batch, gradients and losses are summed over the group, and every rank applies the
   * same update. Rank 0 writes TensorBoard; every rank writes its own {@code <rank>/log}.
   */
  public Trainer(TrainingSetup setup, RunDirectory run, TrainListener listener, BooleanSupplier stopRequested,
      Collective group) {
    if (group.worldSize() != setup.worldSize()) {
      throw new IllegalArgumentException("the setup is for " + setup.worldSize() + " rank(s), the group has "
          + group.worldSize());
    }
    this.setup = setup;
    this.run = run;
    this.listener = listener;
    this.stopRequested = stopRequested;
    this.group = group;
  }

  /**
   * Trains to {@code max_steps} or until stopped, starting as {@code start} says: from a
   * checkpoint (model, optimizer state, data position), from Hugging Face weights, or from the
   * seeded random initialization. Saves checkpoints as the config's {@code checkpoint} section says,
   * at the end, and when stopped.
   */
  public TrainResult run(TrainStart start) throws IOException {
    TrainConfig c = setup.config();
    TrainConfig.Trainer t = c.trainer();
    LlamaConfig shape = setup.model();
    int micro = t.microBatchSize();
    int seq = setup.seqLength();
    int threads = t.threads() > 0 ? t.threads() : Runtime.getRuntime().availableProcessors();
    checkMemory(shape, micro, seq, c.checkpoint().asyncSave()
        ? (group.rank() == 0 ? 4L : 0L) * shape.parameterCount() + 8L * shape.parameterCount() / group.worldSize() : 0);
    try (Backend backend = openBackend(t.backend(), threads);
        RankLog log = RankLog.open(run.root(), group.rank());
        TensorBoardWriter board = group.rank() == 0 ? TensorBoardWriter.create(run.root()) : null) {
      this.board = board;
      Kernels kernels = backend.kernels();
      info(log, String.format(Locale.ROOT, "model: %s, %,d parameters; micro-batch %d x %d tokens, "
          + "%d micro-batch(es) per step, global batch %d; %d thread(s)", describe(shape), shape.parameterCount(),
          micro, seq, setup.accumulation(), t.globalBatchSize(), threads)
          + (group.worldSize() > 1 ? String.format(Locale.ROOT, "; rank %d of %d, pid %d", group.rank(), group.worldSize(),
              ProcessHandle.current().pid()) : ""));
      double peak = backend.measurePeakGflops(0.5);
      info(log, String.format(Locale.ROOT, "backend %s: peak %.0f GFLOP/s (MFU is relative to it)",
          backend.description(), peak));
      try (LlamaModel model = new LlamaModel(shape, backend, micro, seq, false);
          Optimizer adam = new Optimizer(model, new AdamW.Settings(c.optim().beta1(), c.optim().beta2(),
              c.optim().eps(), c.optim().weightDecay()), backend)) {
        long n = model.layout().size();
        info(log, String.format(Locale.ROOT, "memory per rank: parameters %.0f MB, gradients %.0f MB, AdamW state"
            + " %.0f MB%s, activations %.0f MB", n * 4 / 1e6, n * 4 / 1e6, adam.stateBytes() / 1e6,
            group.worldSize() > 1 ? " (ZeRO-1: this rank's 1/" + group.worldSize() + ")" : "",
            (model.bytes() - 8.0 * n) / 1e6));
        Checkpoint resumed = startingWeights(start, model, adam, log);
        if (start.writeInitialWeights() != null) {
          SafetensorsWriter.writeF32(start.writeInitialWeights(), model.layout(), model.parameters(),
              Map.of("format", "pt", "source", "cria train, initial weights, seed " + t.seed()));
          info(log, "initial weights written to " + start.writeInitialWeights());
        }
        if (board != null) {
          info(log, "TensorBoard: " + board.file() + " (tensorboard --logdir " + run.root() + ")");
        }
        Saves saves = new Saves(model, adam, log, resumed == null ? 0 : resumed.step());
        boolean ended = false;
        try {
          TrainResult result = loop(model, adam, kernels, log, peak, resumed, saves);
          ended = true;
          return result;
        } finally {
          if (!ended) {
            saves.abandon(); // the run failed: a background save gets a minute, not the shard wait
          }
          saves.close();
        }
      }
    }
  }

  /**
   * Fills the model (and, resuming, the optimizer) as {@code start} says: the chosen checkpoint,
   * else NeMo's seeded initialization, replaced by Hugging Face weights with {@code --init-from}.
   * Returns the checkpoint resumed, or null.
   */
  private Checkpoint startingWeights(TrainStart start, LlamaModel model, Optimizer adam, RankLog log)
      throws IOException {
    long t0 = System.nanoTime();
    Checkpoint resumed = chooseCheckpoint(start, log);
    if (resumed == null) {
      model.initialize(setup.config().trainer().seed());
      if (start.initFrom() != null) {
        initializeFrom(start.initFrom(), model, log);
      }
      return null;
    }
    resumed.loadModel(model.layout(), model.parameters());
    resumed.loadOptimizer(adam.parts());
    warnAboutChanges(resumed, log);
    info(log, String.format(Locale.ROOT, "resumed from %s: step %d, consumed samples %d (saved by %d rank(s);"
        + " checksums checked and loaded in %.1f s)", resumed.dir(), resumed.step(), resumed.state().consumedSamples(),
        resumed.state().worldSize(), (System.nanoTime() - t0) / 1e9));
    return resumed;
  }

  private TrainResult loop(LlamaModel model, Optimizer adam, Kernels kernels, RankLog log, double peakGflops,
      Checkpoint resumed, Saves saves) throws IOException {
    TrainConfig c = setup.config();
    TrainConfig.Trainer t = c.trainer();
    int micro = t.microBatchSize();
    int seq = setup.seqLength();
    int accumulation = setup.accumulation();
    LearningRateSchedule schedule = new LearningRateSchedule.WarmupCosine(c.optim().lr(), c.optim().minLr(),
        c.optim().warmupSteps(), t.maxSteps());
    double flopsPerToken = setup.model().trainingFlopsPerToken(seq);
    int[] tokens = new int[micro * seq];
    int[] targets = new int[micro * seq];
    int[] window = new int[seq + 1];
    int world = group.worldSize();
    int rank = group.rank();
    float gradScale = 1f / (accumulation * world);
    ThroughputWindow throughput = new ThroughputWindow(WINDOW);
    ThroughputWindow pace = new ThroughputWindow(WINDOW); // for the ETA: without the first step's JIT warm-up
    long start = System.nanoTime();
    double lastLoss = Double.NaN;
    double lastValidation = Double.NaN;
    long validatedAt = -1;
    long step = resumed == null ? 0 : resumed.step();
    long firstStep = step;
    // Megatron continues from the consumed samples, so a changed global batch still reads on in order
    long consumed = resumed == null ? 0 : resumed.state().consumedSamples();
    boolean stopped = false;
    while (step < t.maxSteps()) {
      boolean[] agreed = agree(stopRequested.getAsBoolean(), saves.timeDue());
      if (agreed[0]) {
        saves.now(step, consumed, lastLoss, schedule); // on a stop request
        stopped = true;
        break;
      }
      if (agreed[1]) {
        saves.periodic(step, consumed, lastLoss, schedule); // when the clock says so
      }
      long t0 = System.nanoTime();
      double lr = schedule.at(step);
      model.zeroGradients();
      double lossSum = 0;
      for (int m = 0; m < accumulation; m++) {
        // Megatron's sampler: each micro-step covers micro x world samples, rank r takes its slice
        long first = consumed + ((long) m * world + rank) * micro;
        fill(setup.train(), first, micro, seq, window, tokens, targets);
        lossSum += model.forward(tokens, targets, gradScale);
        // the last micro-batch's backward hands each finished block of gradients to the reduction
        model.backward(m == accumulation - 1 && world > 1 ? adam::reduceWhenReady : null);
      }
      if (world > 1) {
        adam.awaitReductions(); // the collectives are used by one thread at a time
      }
      double loss = meanOverRanks(lossSum / accumulation);
      double gradNorm = world == 1 ? update(model, adam.whole(), kernels, lr) : updateZero1(model, adam, kernels, lr);
      double paramNorm = Math.sqrt(kernels.sumOfSquares(model.parameters().segment(), 0, model.parameters().length()));
      step++;
      consumed += t.globalBatchSize();
      double seconds = (System.nanoTime() - t0) / 1e9;
      double samplesPerSec = throughput.add(t.globalBatchSize(), seconds);
      double tokensPerSec = samplesPerSec * seq;
      double mfu = tokensPerSec * flopsPerToken / 1e9 / (peakGflops * world);
      if (step > firstStep + 1) {
        pace.add(t.globalBatchSize(), seconds);
      }
      double eta = step == firstStep + 1 ? Double.NaN : pace.meanStepSeconds() * (t.maxSteps() - step);
      StepMetrics metrics = new StepMetrics(step, t.maxSteps(), loss, lr, gradNorm, paramNorm,
          consumed, seconds, communicationSeconds, samplesPerSec, throughput.peak(), tokensPerSec,
          mfu, eta);
      record(metrics, log);
      listener.step(metrics);
      lastLoss = loss;
      if (!Double.isFinite(loss)) {
        String message = "the loss is " + loss + " at step " + step + "; lower optim.lr or check the data";
        log.line("failed: " + message);
        flush();
        throw new TrainingException(message);
      }
      if (setup.valid() != null && t.valCheckInterval() > 0 && step % t.valCheckInterval() == 0) {
        lastValidation = validate(model, step, log, window, tokens, targets);
        validatedAt = step;
      }
      if (c.checkpoint().saveInterval() > 0 && step % c.checkpoint().saveInterval() == 0) {
        saves.periodic(step, consumed, lastLoss, schedule);
      } else {
        saves.poll();
      }
    }
    if (!stopped && setup.valid() != null && validatedAt != step && step > firstStep) {
      lastValidation = validate(model, step, log, window, tokens, targets);
    }
    if (!stopped) {
      saves.now(step, consumed, lastLoss, schedule); // the end of the run
    }
    double total = (System.nanoTime() - start) / 1e9;
    if (stopped && step < t.maxSteps()) {
      info(log, String.format(Locale.ROOT, "stopped after step %d of %d (%.1f s)%s", step, t.maxSteps(), total,
          saves.last() != null ? "; resume with the same command" : ""));
    } else {
      info(log, String.format(Locale.ROOT, "finished %d steps in %.1f s", step, total));
    }
    flush();
    listener.finished(model.parameters());
    saves.close(); // a background save finishes (and is reported) before the summary
    return new TrainResult(step, lastLoss, lastValidation, stopped, total, board != null ? board.file() : null,
        firstStep, saves.last());
  }

  /**
   * The checkpoint to resume from, the same on every rank, or null to start afresh. The candidates
   * (the one named, or the run's, newest first) are checked in turn by all ranks together, each
   * re-reading its share of the files, until one is whole; in the run directory, checkpoints after
   * the chosen one are then set aside, so that they are neither resumed later nor pruned for it.
   */
  private Checkpoint chooseCheckpoint(TrainStart start, RankLog log) throws IOException {
    if (!start.resume() && start.resumeFrom() == null) {
      return null;
    }
    if (group.rank() == 0) {
      Checkpoints.removeLeftovers(run.root());
    }
    if (group.worldSize() > 1) {
      group.barrier(Checkpointer.PATIENCE); // the leftovers are sorted out before anyone lists the checkpoints
    }
    List<Path> candidates = Checkpoints.candidates(start.resumeFrom() != null ? start.resumeFrom() : run.root());
    Checkpoint chosen = null;
    for (Path dir : candidates) {
      Checkpoint c = null;
      String problem = null;
      try {
        c = Checkpoint.open(dir).verify(group.rank(), group.worldSize());
        if (!dir.equals(start.resumeFrom()) && c.step() != Checkpoints.stepOf(dir)) {
          throw new CheckpointException(dir + ": its manifest is for step " + c.step());
        }
      } catch (IOException | RuntimeException e) {
        problem = Checkpoints.describe(e);
      }
      if (group.worldSize() > 1) {
        group.barrier(Checkpointer.PATIENCE); // each rank has read its share, however large
      }
      long damaged = Math.round(sumOverRanks(problem == null ? 0 : 1));
      if (damaged == 0) {
        chosen = c;
        break;
      }
      String line = "checkpoint " + dir + " is not usable: " + (problem != null ? problem
          : "damage found by " + damaged + " other rank(s), see their logs");
      if (dir.equals(start.resumeFrom())) {
        throw new CheckpointException(line);
      }
      int next = candidates.indexOf(dir) + 1;
      warn(log, line + (next < candidates.size() ? "; trying " + candidates.get(next).getFileName() : ""));
    }
    if (chosen == null && start.resumeFrom() != null) {
      throw new CheckpointException(start.resumeFrom() + ": no usable checkpoint to resume from");
    }
    if (group.rank() == 0) {
      if (chosen == null) {
        info(log, (candidates.isEmpty() ? "no checkpoint in " : "no usable checkpoint in ")
            + (start.resumeFrom() != null ? start.resumeFrom() : Checkpoints.directory(run.root()))
            + ": starting from step 0");
      }
      for (Path p : Checkpoints.setAsideAfter(run.root(), chosen == null ? 0 : chosen.step())) {
        warn(log, "set aside " + p.getFileName().toString().substring("abandoned-".length()) + " as " + p.getFileName()
            + ": it comes after the step this run continues from");
      }
    }
    return chosen;
  }

  /**
   * Tells what the config changes from the checkpoint's: allowed (a longer run, another interval),
   * but some changes (the seed, the data, the sequence length) mean the run no longer continues
   * the same sample order.
   */
  private void warnAboutChanges(Checkpoint checkpoint, RankLog log) throws IOException {
    if (group.rank() != 0) {
      return;
    }
    TrainConfig saved;
    try {
      saved = TrainConfigFile.readSaved(checkpoint.dir().resolve(Checkpoint.CONFIG));
    } catch (ConfigException e) {
      warn(log, "cannot compare with the checkpoint's config: " + e.getMessage());
      return;
    }
    List<String> changed = TrainConfigFile.differences(saved, setup.config()).stream()
        .filter(d -> !d.startsWith("run_dir:") && !d.startsWith("trainer.threads:")).toList();
    if (!changed.isEmpty()) {
      boolean order = changed.stream().anyMatch(d -> d.startsWith("trainer.seed:") || d.startsWith("data.")
          || d.startsWith("trainer.global_batch_size:"));
      boolean length = changed.stream().anyMatch(d -> d.startsWith("trainer.max_steps:"));
      warn(log, "the config differs from the checkpoint's: " + String.join(", ", changed)
          + (order ? " (the samples from here on are not the ones the saved run would have taken)"
              : length ? " (the sample order stays the saved run's unless the new length needs more epochs of the"
                  + " data)" : ""));
    }
  }

  /** Continued pretraining: the weights of a Hugging Face Llama whose shape is this model's. */
  private void initializeFrom(Path dir, LlamaModel model, RankLog log) throws IOException {
    long t0 = System.nanoTime();
    try {
      Path configJson = dir.resolve("config.json");
      List<String> differences = HfConfig.differences(setup.model(), HfConfig.read(configJson));
      if (!differences.isEmpty()) {
        throw new ConfigException("--init-from " + dir + ": its config.json describes another model: "
            + String.join(", ", differences) + "; set the model (--preset, --hidden-size, --layers, --heads,"
            + " --kv-heads, --ffn-size, --tokenizer) to match");
      }
      HfModelFiles.read(dir, model.layout(), model.parameters(), HfConfig.tiedEmbeddings(configJson));
    } catch (SafetensorsException e) {
      throw new ConfigException("--init-from: " + e.getMessage(), e);
    }
    info(log, String.format(Locale.ROOT, "initialized from %s (%.1f s)", dir, (System.nanoTime() - t0) / 1e9));
  }

  /**
   * When and how this rank saves checkpoints; remembers the last one so none is saved twice.
   * Periodic saves go to the background with {@code checkpoint.async_save}; the saves at the end
   * and on a stop request are made before the run returns.
   */
  private final class Saves implements AutoCloseable {
    private final LlamaModel model;
    private final Optimizer adam;
    private final RankLog log;
    private final Checkpointer checkpointer;
    private long lastSaved;
    private long lastSaveNanos = System.nanoTime();
    private Path last;

    Saves(LlamaModel model, Optimizer adam, RankLog log, long firstStep) throws IOException {
      this.model = model;
      this.adam = adam;
      this.log = log;
      this.checkpointer = new Checkpointer(run.root(), group, setup.config().checkpoint().keepLast());
      this.lastSaved = firstStep;
      if (setup.config().checkpoint().asyncSave()) {
        long t0 = System.nanoTime();
        long bytes = checkpointer.allocateSnapshot(model.parameters(), adam.parts());
        String line = String.format(Locale.ROOT, "checkpoints are written in the background from a %.0f MB copy"
            + " (allocated in %.1f s)", bytes / 1e6, (System.nanoTime() - t0) / 1e9);
        info(log, line); // every rank's own log; the console shows rank 0's
      }
    }

    /** Whether the wall-clock interval has passed (rank 0's clock decides, through {@link #agree}). */
    boolean timeDue() {
      double minutes = setup.config().checkpoint().saveIntervalMinutes();
      return group.rank() == 0 && minutes > 0 && System.nanoTime() - lastSaveNanos >= minutes * 60e9;
    }

    Path last() {
      return last;
    }

    /** A periodic save: in the background when the config says so. */
    void periodic(long step, long consumed, double lastLoss, LearningRateSchedule schedule) throws IOException {
      save(step, consumed, lastLoss, schedule, setup.config().checkpoint().asyncSave());
    }

    /** A save made before returning (at the end, on a stop request). */
    void now(long step, long consumed, double lastLoss, LearningRateSchedule schedule) throws IOException {
      save(step, consumed, lastLoss, schedule, false);
    }

    private void save(long step, long consumed, double lastLoss, LearningRateSchedule schedule, boolean background)
        throws IOException {
      if (step <= lastSaved) {
        return;
      }
      report(checkpointer.awaitBackground());
      flush(); // the metrics up to the checkpoint survive whatever ends the process
      TrainConfig c = setup.config();
      TrainingState state = new TrainingState(step, consumed, adam.parts().getFirst().steps(), group.worldSize(),
          c.trainer().seed(), schedule.at(step - 1), String.format(Locale.ROOT,
              "linear warmup over %d steps to %s, cosine to %s at step %d", c.optim().warmupSteps(), c.optim().lr(),
              c.optim().minLr(), c.trainer().maxSteps()), lastLoss);
      Checkpointer.Contents contents = new Checkpointer.Contents(state, TrainConfigFile.toYaml(c),
          c.model().tokenizer() == null ? null : Path.of(c.model().tokenizer()), model.layout(), model.parameters());
      lastSaved = step;
      lastSaveNanos = System.nanoTime();
      if (background) {
        long t0 = System.nanoTime();
        checkpointer.saveInBackground(contents, adam.parts());
        String line = String.format(Locale.ROOT, "checkpoint of step %d: copied in %.2f s, being written in the"
            + " background", step, (System.nanoTime() - t0) / 1e9);
        info(log, line); // every rank's own log; the console shows rank 0's
      } else {
        report(checkpointer.save(contents, adam.parts()));
      }
    }

    /** Logs a background save that has finished since the last step. */
    void poll() throws IOException {
      if (!checkpointer.busy()) {
        report(checkpointer.awaitBackground());
      }
    }

    private void report(Checkpointer.Saved saved) throws IOException {
      if (saved == null) {
        return;
      }
      last = saved.dir();
      String line = String.format(Locale.ROOT, "checkpoint saved: %s (%s %.0f MB, %.1f s)", saved.dir(),
          group.rank() == 0 ? "all files" : "this rank's shard", saved.bytes() / 1e6, saved.seconds());
      info(log, line);
      for (Path p : saved.pruned()) { // rank 0 prunes
        log.line("removed old checkpoint " + p + " (keep_last " + setup.config().checkpoint().keepLast() + ")");
      }
    }

    /** After a failure: a minute for a background save to finish, then it is interrupted. */
    void abandon() {
      checkpointer.abandonBackground(Duration.ofMinutes(1));
    }

    /** Waits for a background save (reporting it) and frees its snapshot. */
    @Override
    public void close() throws IOException {
      try {
        report(checkpointer.awaitBackground());
      } finally {
        checkpointer.close();
      }
    }
  }

  /** Micro-batch of samples {@code first..first+micro}: inputs and the labels shifted by one. */
  private static void fill(GptSamples data, long first, int micro, int seq, int[] window, int[] tokens,
      int[] targets) {
    for (int b = 0; b < micro; b++) {
      data.sample(first + b, window, 0);
      System.arraycopy(window, 0, tokens, b * seq, seq);
      System.arraycopy(window, 1, targets, b * seq, seq);
    }
  }

  private double validate(LlamaModel model, long step, RankLog log, int[] window, int[] tokens, int[] targets)
      throws IOException {
    TrainConfig.Trainer t = setup.config().trainer();
    int micro = t.microBatchSize();
    int perBatch = setup.accumulation();
    long t0 = System.nanoTime();
    double sum = 0;
    int count = 0;
    for (int b = 0; b < t.limitValBatches(); b++) {
      for (int m = 0; m < perBatch; m++) {
        long first = (long) b * t.globalBatchSize() + ((long) m * group.worldSize() + group.rank()) * micro;
        fill(setup.valid(), first, micro, setup.seqLength(), window, tokens, targets);
        sum += model.forward(tokens, targets, 0f);
        count++;
      }
    }
    double loss = meanOverRanks(sum / count);
    scalar("val_loss", step, loss);
    flush();
    log.line(String.format(Locale.ROOT, "validation step %d val_loss %.4f (%d batches, %.1f s)", step, loss,
        t.limitValBatches(), (System.nanoTime() - t0) / 1e9));
    listener.validation(step, loss);
    return loss;
  }

  private void record(StepMetrics m, RankLog log) throws IOException {
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
    if (group.worldSize() > 1) {
      scalar("communication_timing", s, m.communicationSeconds());
    }
    if (s % setup.config().trainer().logEveryNSteps() == 0 || s == m.maxSteps()) {
      flush();
    }
    log.line(String.format(Locale.ROOT,
        "step %d/%d reduced_train_loss %.4f lr %.4e gradient_norm %.4f parameter_norm %.3f consumed_samples %d"
            + " train_step_timing %.3fs throughput %.2f samples/s tokens_per_sec %.0f mfu %.1f%%%s",
        s, m.maxSteps(), m.loss(), m.lr(), m.gradientNorm(), m.parameterNorm(), m.consumedSamples(), m.stepSeconds(),
        m.throughput(), m.tokensPerSec(), 100 * m.mfu(), group.worldSize() > 1
            ? String.format(Locale.ROOT, " communication_timing %.3fs (not overlapped %.3fs)", m.communicationSeconds(),
                exposedCommunicationSeconds) : ""));
  }

  /** One process: clip the global norm and apply AdamW. Returns the norm before clipping. */
  private double update(LlamaModel model, AdamW adam, Kernels kernels, double lr) {
    double clip = setup.config().optim().clipGrad();
    double norm = clip > 0 ? GradientClipping.clip(kernels, model.gradients(), clip)
        : Math.sqrt(kernels.sumOfSquares(model.gradients().segment(), 0, model.gradients().length()));
    adam.step(model.parameters(), model.gradients(), lr);
    return norm;
  }

  /**
   * ZeRO-1 once every bucket is reduce-scattered (each rank holds the sums of its shard of every
   * bucket): the global norm from the shards' sums of squares, clip and update the own shards with
   * their share of the AdamW state, then all-gather every bucket's updated shards.
   */
  private double updateZero1(LlamaModel model, Optimizer adam, Kernels kernels, double lr) {
    MemorySegment grads = model.gradients().segment();
    double squares = 0;
    for (long[] shard : adam.shards()) {
      squares += kernels.sumOfSquares(grads, shard[0], shard[1] - shard[0]);
    }
    double norm = Math.sqrt(sumOverRanks(squares));
    double clip = setup.config().optim().clipGrad();
    if (clip > 0 && clip / (norm + 1e-6) < 1) {
      for (long[] shard : adam.shards()) {
        kernels.scale(grads, shard[0], shard[1] - shard[0], (float) (clip / (norm + 1e-6)));
      }
    }
    adam.step(model.parameters(), model.gradients(), lr);
    long t1 = System.nanoTime();
    MemorySegment params = model.parameters().segment();
    for (long[] bucket : adam.buckets()) {
      group.allGather(params.asSlice(bucket[0] * Float.BYTES, (bucket[1] - bucket[0]) * Float.BYTES),
          bucket[1] - bucket[0]);
    }
    double gather = (System.nanoTime() - t1) / 1e9;
    communicationSeconds = adam.reductionSeconds() + gather;
    exposedCommunicationSeconds = adam.waitSeconds() + gather;
    return norm;
  }

  /**
   * The optimizer of one rank: AdamW over every parameter for a single process; with several
   * ranks, ZeRO-1 over buckets (the blocks the backward pass finishes one after the other: the LM
   * head with the final norm, each layer, the embeddings), each bucket sharded among the ranks and
   * reduce-scattered on a communication thread as soon as the backward pass has finished it.
   */
  private final class Optimizer implements AutoCloseable {
    private final List<long[]> buckets = new ArrayList<>();
    private final List<long[]> shards = new ArrayList<>();
    private final List<AdamW> parts = new ArrayList<>();
    private final MemorySegment gradients;
    private final ExecutorService comm;
    private final List<Future<?>> pending = new ArrayList<>();
    private long reductionNanos;
    private long waitNanos;

    Optimizer(LlamaModel model, AdamW.Settings settings, Backend backend) {
      ParameterLayout layout = model.layout();
      this.gradients = model.gradients().segment();
      int world = group.worldSize();
      if (world == 1) {
        parts.add(new AdamW(layout, settings, backend));
        comm = null;
        return;
      }
      int layers = layout.config().layers();
      buckets.add(new long[] {layout.finalNorm(), layout.size()});
      for (int l = layers - 1; l >= 0; l--) {
        buckets.add(new long[] {layout.layer(l).attentionNorm(),
            l + 1 < layers ? layout.layer(l + 1).attentionNorm() : layout.finalNorm()});
      }
      buckets.add(new long[] {0, layout.layer(0).attentionNorm()});
      for (long[] b : buckets) {
        long length = b[1] - b[0];
        long from = b[0] + Collective.shardStart(length, world, group.rank());
        long to = b[0] + Collective.shardStart(length, world, group.rank() + 1);
        shards.add(new long[] {from, to});
        parts.add(new AdamW(layout, settings, backend, from, to));
      }
      comm = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "cria-gradient-reduction");
        t.setDaemon(true);
        return t;
      });
    }

    AdamW whole() {
      return parts.getFirst();
    }

    /** The AdamW of every shard this rank owns (the whole model for one rank). */
    List<AdamW> parts() {
      return parts;
    }

    List<long[]> buckets() {
      return buckets;
    }

    List<long[]> shards() {
      return shards;
    }

    long stateBytes() {
      return parts.stream().mapToLong(AdamW::stateBytes).sum();
    }

    /** From the backward pass: reduce-scatter the bucket {@code [from, to)} in the background. */
    void reduceWhenReady(long from, long to) {
      pending.add(comm.submit(() -> {
        long t0 = System.nanoTime();
        group.reduceScatterSum(gradients.asSlice(from * Float.BYTES, (to - from) * Float.BYTES), to - from);
        reductionNanos += System.nanoTime() - t0;
      }));
    }

    /** Waits for every bucket's reduction of this step; rethrows a collective's failure. */
    void awaitReductions() {
      long t0 = System.nanoTime();
      try {
        for (Future<?> f : pending) {
          f.get();
        }
      } catch (ExecutionException e) {
        if (e.getCause() instanceof RuntimeException r) {
          throw r;
        }
        throw new IllegalStateException(e.getCause());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CollectiveException("interrupted while reducing gradients");
      } finally {
        pending.clear();
        waitNanos = System.nanoTime() - t0;
      }
    }

    /** Seconds the last step's reductions took on the communication thread, and resets them. */
    double reductionSeconds() {
      double s = reductionNanos / 1e9;
      reductionNanos = 0;
      return s;
    }

    /** Seconds the last step waited for its reductions after the backward pass. */
    double waitSeconds() {
      return waitNanos / 1e9;
    }

    void step(Floats parameters, Floats gradients, double lr) {
      for (AdamW part : parts) {
        part.step(parameters, gradients, lr);
      }
    }

    @Override
    public void close() {
      if (comm != null) {
        comm.shutdownNow();
      }
      parts.forEach(AdamW::close);
    }
  }

  /**
   * Whether to stop, and whether to save, before the next step: asked of this process, or, in a
   * group, of any rank, so that every rank stops (and saves) after the same step; one alone would
   * leave the others waiting. Returns {stop, save}.
   */
  private boolean[] agree(boolean stop, boolean save) {
    if (group.worldSize() == 1) {
      return new boolean[] {stop, save};
    }
    scalar.set(ValueLayout.JAVA_FLOAT, 0, stop ? 1 : 0);
    scalar.set(ValueLayout.JAVA_FLOAT, Float.BYTES, save ? 1 : 0);
    group.allReduceSum(scalar, 2);
    return new boolean[] {scalar.get(ValueLayout.JAVA_FLOAT, 0) > 0,
        scalar.get(ValueLayout.JAVA_FLOAT, Float.BYTES) > 0};
  }

  /** The mean of {@code value} over the ranks (the value itself for one rank, exactly). */
  private double meanOverRanks(double value) {
    return group.worldSize() == 1 ? value : sumOverRanks(value) / group.worldSize();
  }

  /** The sum of {@code value} over the ranks, in float (the same on every rank). */
  private double sumOverRanks(double value) {
    if (group.worldSize() == 1) {
      return value;
    }
    scalar.set(ValueLayout.JAVA_FLOAT, 0, (float) value);
    group.allReduceSum(scalar, 1);
    return scalar.get(ValueLayout.JAVA_FLOAT, 0);
  }

  private void scalar(String tag, long step, double value) throws IOException {
    if (board != null) {
      board.scalar(tag, step, (float) value);
    }
  }

  private void flush() throws IOException {
    if (board != null) {
      board.flush();
    }
  }

  private void info(RankLog log, String line) throws IOException {
    log.line(line);
    listener.info(line);
  }

  private void warn(RankLog log, String line) {
    try {
      info(log, "warning: " + line);
    } catch (IOException e) {
      listener.info("warning: " + line);
    }
  }

  /** The backend the config names, a bad name reported as a config error. */
  private static Backend openBackend(String name, int threads) {
    try {
      return Backends.open(name, threads);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("trainer.backend: " + e.getMessage());
    }
  }

  private static String describe(LlamaConfig c) {
    return String.format(Locale.ROOT, "Llama d=%d L=%d heads=%d kv=%d ffn=%d vocab=%d", c.dim(), c.layers(),
        c.heads(), c.kvHeads(), c.ffnDim(), c.vocabSize());
  }

  private static void checkMemory(LlamaConfig shape, int micro, int seq, long snapshotBytes) {
    try {
      LlamaModel.requireMemoryFor(shape, micro, seq, snapshotBytes, "the copy that --async-save writes from");
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
  }

}
