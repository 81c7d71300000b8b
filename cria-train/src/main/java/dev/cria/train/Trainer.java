package dev.cria.train;

import dev.cria.core.run.RankState;
import dev.cria.data.gpt.GlobalBatches;
import dev.cria.data.gpt.MicroBatch;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Peak;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.engine.model.KernelShapes;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.LearningRateSchedule;
import dev.cria.engine.optim.StochasticRounding;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import dev.cria.engine.tensor.DType;
import dev.cria.train.checkpoint.Checkpoint;
import dev.cria.train.checkpoint.Checkpointer;
import dev.cria.train.checkpoint.SaveSchedule;
import dev.cria.train.checkpoint.StartingWeights;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.checkpoint.WholeModel;
import dev.cria.train.compile.KernelCache;
import dev.cria.train.compile.MemoryPlan;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.distributed.CountedCollective;
import dev.cria.train.distributed.GradientBuckets;
import dev.cria.train.distributed.PeerWatch;
import dev.cria.train.distributed.RankValues;
import dev.cria.train.distributed.ShardedAdamW;
import dev.cria.train.distributed.ShardedParameters;
import dev.cria.train.metrics.MetricsSink;
import dev.cria.train.metrics.StepMetrics;
import dev.cria.train.metrics.TensorBoardSink;
import dev.cria.train.metrics.TensorBoardWriter;
import dev.cria.train.metrics.ThroughputWindow;
import dev.cria.train.metrics.TrainListener;
import dev.cria.train.metrics.Validation;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * The training loop of one rank, as NeMo's Megatron GPT pretraining runs it: each optimizer step
 * takes the next global batch in Megatron's sample order ({@link GlobalBatches}), accumulates
 * gradients over its micro-batches, clips the global norm and applies AdamW at the warmup-cosine
 * learning rate. Validation runs on the first {@code limit_val_batches} global batches of the valid
 * split, every {@code val_check_interval} steps and at the end.
 *
 * <p>The loop only loops. Its parts are components: the backend (named by {@code trainer.backend}),
 * ZeRO-1 and the gradient buckets ({@code distributed}), where the weights come from and when
 * checkpoints are saved ({@code checkpoint}), and where the metrics go ({@link MetricsSink}: the
 * rank log, TensorBoard with NeMo's names, the console). A stop request (Ctrl-C, SIGTERM) is
 * honoured after the current step, with a checkpoint and the metrics flushed; during a validation,
 * after its current global batch (the validation is left unfinished, so that a pod's grace period
 * is not spent on it).
 *
 * <p>The job's ranks are data-parallel (each a replica of the model, its share of each global
 * batch) and, with {@code distributed.tensor_parallel}, tensor-parallel (each replica spread over
 * that many adjacent ranks, each holding a slice of every layer and all reading the replica's
 * micro-batches; {@link RankGroups}).
 *
 * <p>This file is long because the loop's parts (the step, validation, the ranks' agreement on
 * stopping and saving, the report of a step) share the loop's state; each is a short method.
 */
public final class Trainer {
  /** NeMo's throughput window: 10 steps. */
  private static final int WINDOW = 10;

  private final TrainingSetup setup;
  private final RunDirectory run;
  private final TrainListener listener;
  private final BooleanSupplier stopRequested;
  private final Collective group;
  private RankGroups groups; // the job's group as tensor- and data-parallel groups: in run()
  private final RankValues ranks;
  private volatile PeerWatch watch; // several ranks: while run() runs
  private volatile MetricsSink live; // while run() runs

  /** A trainer for a single process. */
  public Trainer(
      TrainingSetup setup,
      RunDirectory run,
      TrainListener listener,
      BooleanSupplier stopRequested) {
    this(setup, run, listener, stopRequested, Collective.single());
  }

  /**
   * A trainer for rank {@code group.rank()} of a job: data-parallel, every rank takes its slice of
   * each global batch, gradients and losses are summed over the group, and every rank applies the
   * same update; with {@code distributed.tensor_parallel}, each group of that many ranks shares one
   * replica, each holding and updating its slice. Rank 0 writes TensorBoard; every rank writes its
   * own {@code <rank>/log}.
   */
  public Trainer(
      TrainingSetup setup,
      RunDirectory run,
      TrainListener listener,
      BooleanSupplier stopRequested,
      Collective group) {
    if (group.worldSize() != setup.worldSize()) {
      throw new IllegalArgumentException(
          "the setup is for " + setup.worldSize() + " rank(s), the group has " + group.worldSize());
    }
    this.setup = setup;
    this.run = run;
    this.listener = listener;
    this.stopRequested = stopRequested;
    // counted, so that the ranks' watches can tell which rank the others wait for
    this.group = group.worldSize() > 1 ? CountedCollective.of(group) : group;
    this.ranks = new RankValues(this.group);
  }

  /**
   * A line from another thread (a stop request's reason, say) into this rank's log and console,
   * while the run runs; dropped before and after.
   */
  public void note(String line) {
    MetricsSink m = live;
    if (m != null) {
      m.warn(line);
    }
  }

  /**
   * What the status files of the peers this rank watches say is wrong with them (failed, gone,
   * silent), or empty: for a rank asked to stop (by mpirun, whose other rank died, say) to name why
   * before it goes.
   */
  public String peerTrouble() {
    PeerWatch w = watch;
    return w == null ? "" : w.explain();
  }

  /**
   * Trains to {@code max_steps} or until stopped, starting as {@code start} says: from a checkpoint
   * (model, optimizer state, data position), from Hugging Face weights, or from the seeded random
   * initialization. Saves checkpoints as the config's {@code checkpoint} section says, at the end,
   * and when stopped.
   */
  public TrainResult run(TrainStart start) throws IOException {
    TrainConfig c = setup.config();
    TrainConfig.Trainer t = c.trainer();
    TensorBoardSink board =
        group.rank() == 0
            ? new TensorBoardSink(
                TensorBoardWriter.create(run.root()), t.logEveryNSteps(), group.worldSize())
            : null;
    MetricsSink metrics = RankSinks.open(run, group, listener, board, c);
    try (metrics;
        Backend backend = TrainingSetup.openBackend(t.backend(), t.threads());
        PeerWatch peers = watchPeers(metrics);
        RankGroups split = RankGroups.of(group, setup.dims())) {
      groups = split;
      live = metrics;
      try {
        return train(start, metrics, backend, board);
      } catch (CollectiveException e) {
        if (peers == null) {
          metrics.failed(e.getMessage());
          throw e;
        }
        // a peer's failure shows here as a lost peer: the watch or its status file says what it was
        boolean reported = peers.verdict().isPresent(); // the watch wrote its verdict already
        CollectiveException named = peers.named(e);
        if (!reported) {
          metrics.failed(named.getMessage());
        }
        throw named;
      } catch (IOException | RuntimeException e) {
        metrics.failed(e.getMessage() != null ? e.getMessage() : e.toString());
        throw e;
      } finally {
        watch = null;
        live = null;
      }
    }
  }

  /** Several ranks: a watch on the peers' status files ({@link PeerWatch}), started. */
  private PeerWatch watchPeers(MetricsSink metrics) {
    if (!(group instanceof CountedCollective counted)) {
      return null;
    }
    PeerWatch w =
        PeerWatch.start(
            run.root(),
            counted,
            PeerWatch.Bounds.defaults(
                setup.config().distributed().heartbeat(), Checkpointer.PATIENCE),
            metrics::warn,
            verdict -> {
              try {
                metrics.failed(verdict); // the log, the console and status.json say it first
              } catch (IOException e) {
                // the abort that follows fails the run all the same
              }
            });
    watch = w;
    return w;
  }

  private TrainResult train(
      TrainStart start, MetricsSink metrics, Backend backend, TensorBoardSink board)
      throws IOException {
    TrainConfig c = setup.config();
    TrainConfig.Trainer t = c.trainer();
    LlamaConfig shape = setup.model();
    describeRun(metrics, backend);
    metrics.placed(groups.place());
    metrics.info(
        KernelCache.use(
            KernelCache.directoryFor(c),
            backend,
            KernelShapes.training(shape, t.microBatchSize() * setup.seqLength(), t.precision()),
            metrics::warn));
    Peak peak = Peak.measure(backend, t.precision().products(), 0.5);
    metrics.info(
        String.format(
            Locale.ROOT,
            "backend %s: peak %.0f GFLOP/s (%s; MFU is relative to it)",
            backend.description(),
            peak.gflops(),
            peak.of()));
    boolean bf16 = t.precision().products() == DType.BF16;
    String matmul = bf16 ? backend.kernels().bf16Matmul() : backend.description();
    if (bf16) {
      metrics.info(t.precision().describe(matmul));
    }
    StochasticRounding rounding = StochasticRounding.forPrecision(t.precision(), t.seed());
    metrics.compute(t.precision().text(), matmul);
    AdamW.Settings settings =
        new AdamW.Settings(
            c.optim().beta1(), c.optim().beta2(), c.optim().eps(), c.optim().weightDecay());
    try (LlamaModel model =
            new LlamaModel(
                shape,
                backend,
                t.microBatchSize(),
                setup.seqLength(),
                c.model().recompute(),
                t.precision(),
                groups.tensor(),
                c.distributed().splitsSequence());
        GradientBuckets buckets = groups.buckets(model, c.distributed());
        ShardedAdamW adam =
            buckets == null
                ? ShardedAdamW.whole(model.layout(), settings, backend, rounding)
                : ShardedAdamW.over(model.layout(), settings, backend, buckets.shards(), rounding);
        WholeModel whole = groups.wholeModel(model, adam, buckets, backend);
        ShardedParameters sharded = // a gathered bucket stays valid until the next update
            ShardedParameters.of(buckets, backend, adam::steps)) {
      RankMemory memory = new RankMemory(c, MemoryPlan.Settings.of(c, shape), group);
      Checkpoint resumed =
          new StartingWeights(run.root(), c, shape, group, ranks, metrics)
              .fill(start, model, adam.parts());
      adam.store(model.parameters()); // bf16 values from the start under bf16-sr
      if (sharded != null) {
        sharded.shard(model); // ZeRO-3: from here on only this rank's shards stay in memory
      }
      memory.describe(metrics, model, adam, buckets, sharded);
      if (start.writeInitialWeights() != null) {
        Map<String, String> meta =
            Map.of("format", "pt", "source", "cria train, initial weights, seed " + t.seed());
        if (whole != null) {
          whole.writeParameters(start.writeInitialWeights(), meta); // every rank sends its slice
        } else {
          SafetensorsWriter.writeF32(
              start.writeInitialWeights(), model.layout(), model.parameters(), meta);
        }
        if (whole == null || whole.holdsIt()) {
          metrics.info("initial weights written to " + start.writeInitialWeights());
        }
      }
      if (board != null) {
        metrics.info("TensorBoard: " + board.file() + " (tensorboard --logdir " + run.root() + ")");
      }
      SaveSchedule saves =
          new SaveSchedule(
              run.root(),
              c,
              whole == null ? groups.data() : group,
              model,
              adam.parts(),
              metrics,
              resumed == null ? 0 : resumed.step(),
              whole);
      boolean ended = false;
      try {
        TrainResult result =
            new Loop(model, adam, buckets, metrics, saves, peak.gflops(), resumed, memory)
                .run(board == null ? null : board.file());
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

  /** One run of the loop, with what it works on. */
  private final class Loop {
    private final LlamaModel model;
    private final ShardedAdamW adam;
    private final GradientBuckets buckets; // null for one rank
    private boolean[] nextAgreement; // stop, save: agreed during the last step (several ranks)
    private final MetricsSink metrics;
    private final SaveSchedule saves;
    private final double peakGflops;
    private final TrainConfig.Trainer t = setup.config().trainer();
    private final GlobalBatches batches = setup.batches();
    private final MicroBatch micro = new MicroBatch(t.microBatchSize(), setup.seqLength());
    private final LearningRateSchedule schedule;
    private final ThroughputWindow throughput = new ThroughputWindow(WINDOW);
    private final ThroughputWindow pace =
        new ThroughputWindow(WINDOW); // the ETA, without the first step's JIT
    private final long firstStep;
    private long step;
    // Megatron continues from the consumed samples, so a changed global batch reads on in order
    private long consumed;
    private double lastLoss = Double.NaN;
    private double lastValidation = Double.NaN;
    private long validatedAt = -1;
    private final RankMemory memory;

    Loop(
        LlamaModel model,
        ShardedAdamW adam,
        GradientBuckets buckets,
        MetricsSink metrics,
        SaveSchedule saves,
        double peakGflops,
        Checkpoint resumed,
        RankMemory memory) {
      this.memory = memory;
      this.model = model;
      this.adam = adam;
      this.buckets = buckets;
      this.metrics = metrics;
      this.saves = saves;
      this.peakGflops = peakGflops;
      TrainConfig.Optim o = setup.config().optim();
      this.schedule =
          LearningRateSchedule.cosineAnnealing(
              o.lr(), o.minLr(), o.warmupSteps(), o.constantSteps(), t.maxSteps());
      this.step = resumed == null ? 0 : resumed.step();
      this.firstStep = step;
      this.consumed = resumed == null ? 0 : resumed.state().consumedSamples();
    }

    TrainResult run(Path tensorBoardFile) throws IOException {
      long start = System.nanoTime();
      boolean stopped = false;
      metrics.state(RankState.TRAINING);
      while (step < t.maxSteps()) {
        // with several ranks the last step agreed on it, while its parameters were being
        // gathered; the gathers end before the group or the whole parameters are used
        boolean[] agreed =
            nextAgreement != null
                ? nextAgreement
                : ranks.any(stopRequested.getAsBoolean(), saves.timeDue());
        nextAgreement = null;
        if (agreed[0] || agreed[1]) {
          awaitGathers();
        }
        if (agreed[0]) {
          saves.now(step, consumed, lastLoss, schedule); // on a stop request
          stopped = true;
          break;
        }
        if (agreed[1]) {
          saves.periodic(step, consumed, lastLoss, schedule); // when the clock says so
        }
        trainStep();
        if (setup.valid() != null && t.valCheckInterval() > 0 && step % t.valCheckInterval() == 0) {
          awaitGathers();
          validate();
        }
        if (saves.stepDue(step)) {
          awaitGathers();
          saves.periodic(step, consumed, lastLoss, schedule);
        } else {
          saves.poll();
        }
      }
      awaitGathers();
      if (!stopped && setup.valid() != null && validatedAt != step && step > firstStep) {
        validate();
      }
      if (!stopped) {
        saves.now(step, consumed, lastLoss, schedule); // the end of the run
      }
      double total = (System.nanoTime() - start) / 1e9;
      if (stopped && step < t.maxSteps()) {
        metrics.info(
            String.format(
                Locale.ROOT,
                "stopped after step %d of %d (%.1f s)%s",
                step,
                t.maxSteps(),
                total,
                saves.last() != null ? "; resume with the same command" : ""));
      } else {
        metrics.info(String.format(Locale.ROOT, "finished %d steps in %.1f s", step, total));
      }
      memory.describeMeasured(metrics);
      metrics.state(stopped && step < t.maxSteps() ? RankState.STOPPED : RankState.FINISHED);
      metrics.flush();
      listener.finished(model.parameters());
      saves.close(); // a background save finishes (and is reported) before the summary
      return new TrainResult(
          step, lastLoss, lastValidation, stopped, total, tensorBoardFile, firstStep, saves.last());
    }

    /** One optimizer step: the next global batch, accumulated, reduced, clipped and applied. */
    /** Waits for the parameter gathers still going on (several ranks). */
    private void awaitGathers() {
      if (buckets != null) {
        buckets.awaitGathers();
      }
    }

    private void trainStep() throws IOException {
      long t0 = System.nanoTime();
      double lr = schedule.at(step);
      int accumulation = batches.microStepsPerBatch();
      float gradScale = 1f / (accumulation * batches.worldSize());
      boolean zero2 = buckets != null && buckets.settings().shardsGradients();
      if (buckets != null) {
        buckets.zeroGradients();
      } else {
        model.zeroGradients();
        model.takeGroupSeconds(); // what validation spent is not this step's
      }
      double lossSum = 0;
      for (int m = 0; m < accumulation; m++) {
        micro.load(setup.train(), batches.firstSample(consumed, m, groups.dataRank()));
        // the first forward pass reads each bucket of parameters once its gather is done
        lossSum +=
            model.forward(
                micro.tokens(),
                micro.targets(),
                gradScale,
                m == 0 && buckets != null ? buckets::awaitParameters : null);
        if (zero2 && m > 0) {
          buckets.awaitReductions(); // the last micro-batch's, overlapped with this forward pass
        }
        // the backward hands each finished bucket of gradients to the reduction: the last
        // micro-batch's (ZeRO-1), every micro-batch's (ZeRO-2, which keeps only the shards)
        model.backward(
            buckets != null && (zero2 || m == accumulation - 1) ? buckets::reduceWhenReady : null);
      }
      if (buckets != null) {
        buckets.awaitReductions(); // the collectives are used by one thread at a time
      }
      double gradNorm =
          adam.clipAndStep(
              model.parameters(),
              model.gradients(),
              lr,
              setup.config().optim().clipGrad(),
              squares ->
                  groups.squaresOverRanks(
                      ranks,
                      squares,
                      buckets == null
                          ? model.replicatedSquares(model.gradients())
                          : model.replicatedSquares(model.gradients(), buckets.shards())));
      double loss = lossSum / accumulation;
      double communication = 0;
      double exposed = 0;
      double paramNorm;
      if (buckets != null) {
        // the mean loss and the parameter norm from the updated shards, in one collective
        double[] sums =
            ranks.sums(
                loss,
                groups.share(
                    adam.shardSquares(model.parameters()),
                    model.replicatedSquares(model.parameters(), buckets.shards())));
        loss = sums[0] / group.worldSize();
        paramNorm = Math.sqrt(sums[1]);
        double[] gather = buckets.gatherSeconds(); // the last step's, during this forward pass
        communication = buckets.reductionSeconds() + gather[0];
        exposed = buckets.waitSeconds() + gather[1];
      } else {
        paramNorm =
            Math.sqrt(
                groups.squaresOverRanks(
                    ranks, model.parameterSquares(), model.replicatedSquares(model.parameters())));
        communication = model.takeGroupSeconds(); // tensor parallelism's, none overlapped
        exposed = communication;
      }
      step++;
      consumed += t.globalBatchSize();
      if (zero2 && step == firstStep + 1) {
        memory.describeShards(metrics, buckets, model.layout().size(), step);
      }
      report(lr, loss, gradNorm, paramNorm, (System.nanoTime() - t0) / 1e9, communication, exposed);
      memory.sample();
      if (buckets != null) {
        // whether to stop or save before the next step, agreed before the group is busy with
        // gathering the parameters, which the next forward pass waits for bucket by bucket
        nextAgreement = ranks.any(stopRequested.getAsBoolean(), saves.timeDue());
        buckets.gatherWhileForwarding(model.parameters());
      }
    }

    private void report(
        double lr,
        double loss,
        double gradNorm,
        double paramNorm,
        double seconds,
        double communication,
        double exposed)
        throws IOException {
      int seq = setup.seqLength();
      double samplesPerSec = throughput.add(t.globalBatchSize(), seconds);
      double tokensPerSec = samplesPerSec * seq;
      double mfu =
          tokensPerSec
              * setup.model().trainingFlopsPerToken(seq)
              / 1e9
              / (peakGflops * group.worldSize());
      if (step > firstStep + 1) {
        pace.add(t.globalBatchSize(), seconds);
      }
      double eta =
          step == firstStep + 1 ? Double.NaN : pace.meanStepSeconds() * (t.maxSteps() - step);
      metrics.step(
          new StepMetrics(
              step,
              t.maxSteps(),
              loss,
              lr,
              gradNorm,
              paramNorm,
              consumed,
              seconds,
              communication,
              exposed,
              samplesPerSec,
              throughput.peak(),
              tokensPerSec,
              mfu,
              eta));
      lastLoss = loss;
      if (!Double.isFinite(loss)) {
        String message =
            "the loss is " + loss + " at step " + step + "; lower optim.lr or check the data";
        throw new TrainingException(message); // reported to every sink by run()
      }
    }

    /** The mean loss over the first {@code limit_val_batches} global batches of the valid split. */
    private void validate() throws IOException {
      metrics.state(RankState.VALIDATING);
      long t0 = System.nanoTime();
      double mine =
          Evaluation.meanLoss(
              model,
              setup.valid(),
              batches,
              micro,
              t.limitValBatches(),
              groups.dataRank(),
              done -> {},
              () -> ranks.any(stopRequested.getAsBoolean(), false)[0]); // all ranks, each batch
      if (Double.isNaN(mine)) {
        metrics.info("validation at step " + step + " left unfinished: asked to stop");
        metrics.state(RankState.TRAINING);
        return;
      }
      // the data-parallel ranks' mean; tensor-parallel ranks hold the same value already
      double loss = groups.data().worldSize() > 1 ? ranks.mean(mine) : mine;
      metrics.validation(
          new Validation(step, loss, t.limitValBatches(), (System.nanoTime() - t0) / 1e9));
      lastValidation = loss;
      validatedAt = step;
      metrics.state(RankState.TRAINING);
    }
  }

  private void describeRun(MetricsSink metrics, Backend backend) throws IOException {
    TrainConfig.Trainer t = setup.config().trainer();
    LlamaConfig c = setup.model();
    metrics.info(
        String.format(
                Locale.ROOT,
                "model: %s;"
                    + " micro-batch %d x %d tokens, %d micro-batch(es) per step, global batch %d; %d thread(s)",
                c.describe(),
                t.microBatchSize(),
                setup.seqLength(),
                setup.accumulation(),
                t.globalBatchSize(),
                backend.threads())
            + (group.worldSize() > 1
                ? String.format(
                    Locale.ROOT,
                    "; rank %d of %d, pid %d; collectives: %s%s",
                    group.rank(),
                    group.worldSize(),
                    ProcessHandle.current().pid(),
                    group.transport(),
                    groups.describe(setup.config().distributed().splitsSequence()))
                : ""));
  }
}
