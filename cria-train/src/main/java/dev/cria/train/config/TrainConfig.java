package dev.cria.train.config;

import dev.cria.engine.model.Precision;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Everything a training run is defined by, as written to {@code <run-dir>/config.yaml}. The
 * sections and key names follow NeMo's Megatron GPT config where it has one ({@code
 * micro_batch_size}, {@code val_check_interval}, {@code limit_val_batches}, ...).
 *
 * @param runDir where the run writes config.yaml, {@code <rank>/log} and TensorBoard files
 */
public record TrainConfig(
    String runDir,
    Model model,
    Data data,
    Trainer trainer,
    Optim optim,
    Checkpoint checkpoint,
    Distributed distributed) {

  /** The samples the train split serves: {@code max_steps * global_batch_size}. */
  public long trainSamples() {
    return trainer.maxSteps() * trainer.globalBatchSize();
  }

  /**
   * The samples NeMo builds the valid split with: enough for every validation of the run, {@code
   * (max_steps // val_check_interval + 1) * limit_val_batches * global_batch_size}.
   */
  public long validSamples() {
    long validations =
        trainer.valCheckInterval() == 0 ? 1 : trainer.maxSteps() / trainer.valCheckInterval() + 1;
    return validations * trainer.limitValBatches() * trainer.globalBatchSize();
  }

  /**
   * This config with the paths it reads made absolute against {@code dir} (the working directory
   * the run is started in): the tokenizer, each data prefix, the index cache and the compile cache
   * when set. Saved so, a run's config serves {@code cria eval}, {@code generate} and a resume from
   * any directory. The run directory stays as given: every command names it.
   */
  public TrainConfig withPathsFrom(Path dir) {
    List<String> prefixes = new ArrayList<>(data.dataPrefix());
    for (int i = prefixes.size() == 1 ? 0 : 1; i < prefixes.size(); i += 2) {
      prefixes.set(i, absolute(dir, prefixes.get(i))); // a blend: weight, prefix, weight, ...
    }
    Model m = model;
    Trainer t = trainer;
    return new TrainConfig(
        runDir,
        new Model(
            m.preset(),
            absolute(dir, m.tokenizer()),
            m.hiddenSize(),
            m.numLayers(),
            m.numAttentionHeads(),
            m.numQueryGroups(),
            m.ffnHiddenSize(),
            m.maxPositionEmbeddings(),
            m.layernormEpsilon(),
            m.rotaryBase(),
            m.initMethodStd(),
            m.useScaledInitMethod(),
            m.recompute()),
        new Data(prefixes, data.split(), data.seqLength(), absolute(dir, data.indexCacheDir())),
        new Trainer(
            t.microBatchSize(),
            t.globalBatchSize(),
            t.maxSteps(),
            t.seed(),
            t.valCheckInterval(),
            t.limitValBatches(),
            t.logEveryNSteps(),
            t.threads(),
            t.backend(),
            absolute(dir, t.compileCache()),
            t.useCompileCache(),
            t.precision()),
        optim,
        checkpoint,
        distributed);
  }

  /**
   * {@code path} against {@code dir}, its {@code .} names dropped; {@code ..} is kept (the system
   * resolves it through symbolic links, which a normalized path would not).
   */
  private static String absolute(Path dir, String path) {
    if (path == null || path.isBlank() || Path.of(path).isAbsolute()) {
      return path;
    }
    Path out = dir.toAbsolutePath();
    for (Path name : Path.of(path)) {
      if (!name.toString().equals(".")) {
        out = out.resolve(name);
      }
    }
    return out.toString();
  }

  /**
   * The model: a preset, optionally resized.
   *
   * @param preset a name from {@code LlamaConfig.PRESETS}
   * @param tokenizer tokenizer.model, tokenizer.json or a directory; its vocabulary sizes the model
   *     (null: the preset's vocabulary)
   * @param hiddenSize model width, or null for the preset's (likewise the next four)
   * @param maxPositionEmbeddings the longest sequence the model accepts
   * @param layernormEpsilon RMSNorm's epsilon, or null for the preset's
   * @param rotaryBase RoPE's base (NeMo's {@code rotary_base}, Hugging Face's {@code rope_theta}),
   *     or null for the preset's (10000)
   * @param initMethodStd the standard deviation of the initial weights (NeMo's {@code
   *     init_method_std})
   * @param useScaledInitMethod whether the output projections start at {@code std/sqrt(2L)}
   * @param recompute keep only each layer's input during the forward pass and recompute the rest in
   *     the backward pass (NeMo's {@code activations_checkpoint_granularity: full}, uniform, one
   *     layer): less memory for activations, a third more compute
   */
  public record Model(
      String preset,
      String tokenizer,
      Integer hiddenSize,
      Integer numLayers,
      Integer numAttentionHeads,
      Integer numQueryGroups,
      Integer ffnHiddenSize,
      Integer maxPositionEmbeddings,
      Double layernormEpsilon,
      Double rotaryBase,
      double initMethodStd,
      boolean useScaledInitMethod,
      boolean recompute) {}

  /**
   * The dataset.
   *
   * @param dataPrefix one prefix of a {@code .bin/.idx} pair, or weight and prefix pairs for
   *     Megatron's blending ({@code [0.7, a_text_document, 0.3, b_text_document]})
   * @param split train,valid,test proportions as Megatron's {@code split} ("980,10,10")
   * @param seqLength tokens per sample (the labels are shifted by one)
   * @param indexCacheDir where the sample indices are cached (null: {@code <run-dir>/index_cache})
   */
  public record Data(List<String> dataPrefix, String split, int seqLength, String indexCacheDir) {}

  /**
   * The loop.
   *
   * @param globalBatchSize samples per optimizer step; gradient accumulation is global / micro
   * @param valCheckInterval steps between validations (0: only at the end)
   * @param limitValBatches global batches per validation (0: no validation)
   * @param logEveryNSteps steps between console lines (every step goes to the log file)
   * @param threads compute threads (0: all cores)
   * @param backend the engine's backend by name ({@code auto}: the best available; {@code cpu},
   *     {@code reference})
   * @param compileCache where {@code cria compile} keeps tuned kernels and every rank looks for
   *     them (null: {@code compile-cache} beside the run directory)
   * @param useCompileCache whether ranks look there at all (false: the backend's defaults)
   * @param precision what the model computes in ({@code 32}, {@code bf16-mixed} or {@code bf16-sr})
   */
  public record Trainer(
      int microBatchSize,
      int globalBatchSize,
      long maxSteps,
      long seed,
      long valCheckInterval,
      int limitValBatches,
      long logEveryNSteps,
      int threads,
      String backend,
      String compileCache,
      boolean useCompileCache,
      Precision precision) {
    public Trainer {
      java.util.Objects.requireNonNull(precision, "trainer.precision");
    }
  }

  /**
   * AdamW with NeMo's warmup and cosine annealing.
   *
   * @param minLr the rate the cosine ends at, at {@code max_steps - constant_steps}
   * @param constantSteps the last steps, held at {@code min_lr} (NeMo's {@code constant_steps};
   *     with more than 0, NeMo's schedule takes Megatron-LM's warmup, which starts at 0)
   * @param clipGrad the largest global gradient norm (0: no clipping)
   */
  public record Optim(
      double lr,
      double minLr,
      long warmupSteps,
      long constantSteps,
      double weightDecay,
      double beta1,
      double beta2,
      double eps,
      double clipGrad) {}

  /**
   * When checkpoints are saved under {@code <run-dir>/checkpoints/}; besides these, a run also
   * saves at its end and when it is stopped (Ctrl-C, SIGTERM).
   *
   * @param saveInterval steps between checkpoints (0: not by steps)
   * @param saveIntervalMinutes wall-clock minutes between checkpoints (0: not by time)
   * @param keepLast how many of the newest checkpoints are kept
   * @param asyncSave write the periodic checkpoints on a background thread from a copy in memory
   *     (training stalls only for the copy; needs memory for a copy of the parameters and this
   *     rank's optimizer state)
   */
  public record Checkpoint(
      long saveInterval, double saveIntervalMinutes, int keepLast, boolean asyncSave) {}

  /**
   * How the ranks share the work; one process ignores it.
   *
   * @param zeroStage 1: the optimizer state is sharded (Megatron-Core's distributed optimizer); 2:
   *     the gradients too, reduced once per micro-batch (DeepSpeed's {@code stage: 2})
   * @param bucketCapMb MiB of fp32 gradients per bucket, consecutive layers joined until a bucket
   *     holds that much (PyTorch DDP's {@code bucket_cap_mb}); 0: a bucket per layer
   * @param tensorParallel ranks that share each copy of the model, each holding a slice of every
   *     layer (Megatron's {@code tensor_model_parallel_size}); the ranks divided by it are the
   *     data-parallel size
   * @param sequenceParallel with tensor parallelism, split the residual stream and the norms along
   *     the micro-batch's tokens among a tensor-parallel group's ranks (Megatron's {@code
   *     sequence_parallel}): less activation memory, the same result; no effect without it
   * @param heartbeatSeconds how often each rank rewrites its {@code status.json} when nothing else
   *     does; a peer whose status stays unchanged for six heartbeats is judged to have stopped
   *     answering and the job ends naming it (default {@value #DEFAULT_HEARTBEAT_SECONDS})
   */
  public record Distributed(
      int zeroStage,
      double bucketCapMb,
      int tensorParallel,
      boolean sequenceParallel,
      double heartbeatSeconds) {
    /** The heartbeat when none is given: a silent rank is named after 30 s. */
    public static final double DEFAULT_HEARTBEAT_SECONDS = 5;

    public Distributed {
      if (tensorParallel < 1) {
        throw new IllegalArgumentException(
            "distributed.tensor_parallel must be at least 1, not " + tensorParallel);
      }
      if (!(heartbeatSeconds >= 0.1 && heartbeatSeconds <= 3600)) {
        throw new IllegalArgumentException(
            "distributed.heartbeat_seconds must be between 0.1 and 3600, not " + heartbeatSeconds);
      }
    }

    /** ZeRO, buckets and parallelism as given, the default heartbeat. */
    public Distributed(
        int zeroStage, double bucketCapMb, int tensorParallel, boolean sequenceParallel) {
      this(zeroStage, bucketCapMb, tensorParallel, sequenceParallel, DEFAULT_HEARTBEAT_SECONDS);
    }

    /** ZeRO and buckets as given, every rank holding the whole model. */
    public Distributed(int zeroStage, double bucketCapMb) {
      this(zeroStage, bucketCapMb, 1, false);
    }

    /** {@code heartbeatSeconds} as a duration. */
    public Duration heartbeat() {
      return Duration.ofMillis(Math.round(heartbeatSeconds * 1000));
    }

    /** Whether the residual stream is split along the tokens: asked for, and a model split. */
    public boolean splitsSequence() {
      return sequenceParallel && tensorParallel > 1;
    }

    /** {@code bucketCapMb} in bytes (0: a bucket per layer). */
    public long bucketCapBytes() {
      return Math.round(bucketCapMb * 1048576);
    }
  }
}
