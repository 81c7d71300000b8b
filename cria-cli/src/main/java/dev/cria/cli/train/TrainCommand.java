package dev.cria.cli.train;

import dev.cria.cli.UserError;
import dev.cria.cli.progress.StatusLine;
import dev.cria.train.RunDirectory;
import dev.cria.train.StepMetrics;
import dev.cria.train.TrainListener;
import dev.cria.train.TrainResult;
import dev.cria.train.TrainingException;
import dev.cria.train.Trainer;
import dev.cria.train.TrainStart;
import dev.cria.train.TrainingSetup;
import dev.cria.train.checkpoint.Checkpoint;
import dev.cria.train.checkpoint.CheckpointException;
import dev.cria.train.checkpoint.Checkpoints;
import dev.cria.train.checkpoint.Manifest;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.distributed.Collective;
import dev.cria.train.distributed.CollectiveException;
import dev.cria.train.distributed.RankEnvironment;
import dev.cria.train.distributed.TcpCollective;
import java.time.Duration;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tools.jackson.databind.node.ObjectNode;

/** {@code cria train}: NeMo's {@code megatron_gpt_pretraining} on one machine, one process. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
      "Train a Llama model on a prepared dataset (.bin/.idx from cria prepare).",
      "",
      "The config comes from defaults, then --config FILE (YAML), then these flags. The run directory gets"
          + " config.yaml, 0/log (a line per step), TensorBoard event files with NeMo's metric names and"
          + " checkpoints/step-N. Samples come in Megatron-Core's GPTDataset order. Ctrl-C or SIGTERM stops after"
          + " the current step and saves a checkpoint.",
      "",
      "A run directory that holds a run is continued: its config.yaml is the base of the config, and training"
          + " resumes from its newest valid checkpoint, exactly where it was.",
      ""
    })
public class TrainCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--config", paramLabel = "FILE", description = "YAML config (sections model, data, trainer, optim, checkpoint).")
  Path config;

  @Option(names = "--run-dir", paramLabel = "DIR", description = "Where the run writes its files (default: runs/cria).")
  String runDir;

  @Option(names = "--overwrite", description = "Replace a run already in --run-dir (its checkpoints too).")
  boolean overwrite;

  @Option(names = "--no-resume", description = "Never continue a run: an existing --run-dir is refused.")
  boolean noResume;

  @Option(names = "--resume-from", paramLabel = "PATH",
      description = "Continue from this checkpoint (a step-N directory, or a run directory's newest).")
  Path resumeFrom;

  @Option(names = "--init-from", paramLabel = "HF_DIR",
      description = "Start from a Hugging Face Llama (config.json, safetensors) instead of random weights.")
  Path initFrom;

  @Option(names = "--save-interval", paramLabel = "N", description = "Save a checkpoint every N steps (default: 0, off).")
  Long saveInterval;

  @Option(names = "--save-interval-minutes", paramLabel = "T",
      description = "Save a checkpoint every T minutes of wall clock (default: 30).")
  Double saveIntervalMinutes;

  @Option(names = "--keep-last", paramLabel = "K", description = "Checkpoints kept (default: 2).")
  Integer keepLast;

  @Option(names = "--async-save", negatable = true, paramLabel = "BOOL",
      description = "Write periodic checkpoints in the background from a copy in memory (default: off).")
  Boolean asyncSave;

  @Option(names = "--preset", paramLabel = "NAME", description = "Model preset: tiny, small, llama2-7b, ... (default: tiny).")
  String preset;

  @Option(names = "--tokenizer", paramLabel = "PATH", description = "The tokenizer that prepared the data; sets the vocabulary.")
  String tokenizer;

  @Option(names = "--hidden-size", paramLabel = "D", description = "Model width (default: the preset's).")
  Integer hiddenSize;

  @Option(names = "--layers", paramLabel = "L", description = "Transformer blocks (default: the preset's).")
  Integer layers;

  @Option(names = "--heads", paramLabel = "H", description = "Attention heads (default: the preset's).")
  Integer heads;

  @Option(names = "--kv-heads", paramLabel = "G", description = "Key/value heads, for grouped-query attention.")
  Integer kvHeads;

  @Option(names = "--ffn-size", paramLabel = "F", description = "MLP hidden size (default: Meta's rule).")
  Integer ffnSize;

  @Option(names = "--max-seq-len", paramLabel = "T", description = "Longest sequence the model accepts.")
  Integer maxSeqLen;

  @Option(names = "--data-prefix", arity = "1..*", paramLabel = "PREFIX",
      description = "Dataset prefix (PREFIX.bin/.idx), or weight and prefix pairs to blend: 0.7 A 0.3 B.")
  List<String> dataPrefix;

  @Option(names = "--split", paramLabel = "TRAIN,VALID,TEST", description = "Document split, Megatron's (default: 969,30,1).")
  String split;

  @Option(names = "--seq-len", paramLabel = "T", description = "Tokens per sample (default: the model's maximum).")
  Integer seqLen;

  @Option(names = "--micro-batch", paramLabel = "B", description = "Samples per forward/backward (default: 4).")
  Integer microBatch;

  @Option(names = "--global-batch", paramLabel = "G", description = "Samples per optimizer step (default: 8).")
  Integer globalBatch;

  @Option(names = "--max-steps", paramLabel = "N", description = "Optimizer steps (default: 100).")
  Long maxSteps;

  @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default: 1e-3).")
  Double lr;

  @Option(names = "--min-lr", paramLabel = "LR", description = "Learning rate at the end of the cosine (default: 1e-4).")
  Double minLr;

  @Option(names = "--warmup-steps", paramLabel = "N", description = "Linear warmup steps (default: 10).")
  Long warmupSteps;

  @Option(names = "--weight-decay", paramLabel = "W", description = "AdamW decoupled weight decay (default: 0.1).")
  Double weightDecay;

  @Option(names = "--clip-grad", paramLabel = "NORM", description = "Global gradient norm limit, 0 for none (default: 1.0).")
  Double clipGrad;

  @Option(names = "--seed", paramLabel = "N", description = "Seed of the initial weights and the sample order (default: 1234).")
  Long seed;

  @Option(names = "--val-interval", paramLabel = "N", description = "Validate every N steps, 0 only at the end (default: 50).")
  Long valInterval;

  @Option(names = "--val-batches", paramLabel = "N", description = "Global batches per validation, 0 for none (default: 4).")
  Integer valBatches;

  @Option(names = "--log-interval", paramLabel = "N", description = "Console line every N steps (default: 10).")
  Long logInterval;

  @Option(names = "--threads", paramLabel = "N", description = "Compute threads (default: all cores).")
  Integer threads;

  @Option(names = "--backend", paramLabel = "NAME",
      description = "Engine backend: auto, cpu, reference (trainer.backend; default: auto, the best available).")
  String backend;

  @Option(names = "--nproc", paramLabel = "N", defaultValue = "1",
      description = "Worker processes on this machine, data-parallel (default: 1, this process).")
  int nproc;

  @Option(names = "--join-timeout", paramLabel = "SECONDS", defaultValue = "120",
      description = "With several workers: how long to wait for all of them to join (default: ${DEFAULT-VALUE}).")
  int joinTimeout;

  @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "300",
      description = "With several workers: how long a collective may wait for a peer (default: ${DEFAULT-VALUE}).")
  int collectiveTimeout;

  @Option(names = "--write-initial-weights", paramLabel = "FILE",
      description = "Also write the initial weights as safetensors (to start another implementation from them).")
  Path initialWeights;

  /** Whether this is {@code cria worker}: one rank of a group described by the environment. */
  protected boolean isWorker() {
    return false;
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    TrainConfig c = resolve();
    if (nproc < 1) {
      throw new UserError("--nproc must be at least 1, got " + nproc);
    }
    if (!isWorker() && nproc > 1) {
      return new LocalLauncher(this, out).launch(c, nproc);
    }
    RankEnvironment env = isWorker() ? RankEnvironment.fromEnvironment() : RankEnvironment.single();
    if (env.rank() == 0) {
      try {
        RunDirectory.requireAvailable(c, overwrite, resumes()); // before the setup writes the index cache there
      } catch (ConfigException e) {
        throw new UserError(e.getMessage());
      }
    }
    AtomicBoolean stop = new AtomicBoolean();
    CountDownLatch finished = new CountDownLatch(1);
    Thread hook = new Thread(() -> {
      stop.set(true);
      try {
        finished.await(10, TimeUnit.MINUTES); // the current step, then metrics are flushed
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "cria-train-stop");
    Runtime.getRuntime().addShutdownHook(hook);
    try (Collective group = TcpCollective.join(env, Duration.ofSeconds(joinTimeout),
            Duration.ofSeconds(collectiveTimeout));
        TrainingSetup setup = TrainingSetup.prepare(c, env.worldSize(), env.rank() == 0 ? out::println : line -> { })) {
      RunDirectory run;
      if (env.rank() == 0) {
        run = RunDirectory.create(c, overwrite, resumes());
        out.println("run directory: " + run.root() + " (config.yaml, <rank>/log, TensorBoard events)");
      }
      group.barrier(); // rank 0 has laid out the run directory
      run = RunDirectory.open(c);
      TrainListener listener = env.rank() == 0 ? new ConsoleListener(out, c.trainer().logEveryNSteps())
          : TrainListener.silent();
      TrainResult result = new Trainer(setup, run, listener, stop::get, group)
          .run(new TrainStart(resumes(), resumeFrom, initFrom, initialWeights));
      if (env.rank() == 0) {
        out.printf(Locale.ROOT, "%s %d step(s) in %s: loss %.4f%s%n", result.stopped() ? "stopped after" : "done:",
            result.steps(), StatusLine.duration(result.seconds()), result.lastLoss(),
            Double.isNaN(result.lastValidationLoss()) ? ""
                : String.format(Locale.ROOT, ", val_loss %.4f", result.lastValidationLoss()));
        out.println("metrics: tensorboard --logdir " + run.root() + "   log: " + run.root().resolve("0/log"));
        if (result.lastCheckpoint() != null) {
          out.println("checkpoint: " + result.lastCheckpoint());
        }
      }
      out.flush();
      return result.stopped() ? 130 : 0;
    } catch (ConfigException | TrainingException | CollectiveException | CheckpointException e) {
      throw new UserError(e.getMessage());
    } finally {
      finished.countDown();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // A signal arrived: the JVM exits with its status once the hook returns.
      }
    }
  }

  /** Whether this run continues the run directory's run (or a named checkpoint) when there is one. */
  private boolean resumes() {
    return !noResume && !overwrite;
  }

  /**
   * Defaults, then the YAML file, then the flags. When continuing a run, the config saved in its
   * directory (or in the checkpoint named by --resume-from) comes between the defaults and the file,
   * so the same command, or a bare {@code --run-dir}, resumes the run as it was.
   */
  TrainConfig resolve() {
    if (resumeFrom != null && initFrom != null) {
      throw new UserError("--resume-from and --init-from exclude each other: a checkpoint has its own weights");
    }
    if (resumeFrom != null && overwrite && runDir != null
        && resumeFrom.toAbsolutePath().normalize().startsWith(Path.of(runDir).toAbsolutePath().normalize())) {
      throw new UserError("--overwrite would delete the checkpoint --resume-from names (" + resumeFrom + " is in "
          + runDir + ")");
    }
    Layers fresh = layers(null);
    if (!resumes() && resumeFrom == null) {
      return fresh.bind();
    }
    String freshRunDir = fresh.tree().path("run_dir").asString("");
    Path saved = savedConfigOf(resumeFrom != null ? resumeFrom : Path.of(freshRunDir));
    if (!Files.isRegularFile(saved)) {
      if (resumeFrom != null) {
        throw new UserError("--resume-from " + resumeFrom + ": neither a checkpoint (manifest.json, config.yaml) nor a"
            + " run directory (config.yaml)");
      }
      return fresh.bind();
    }
    TrainConfig resumed = layers(saved).bind();
    if (resumeFrom != null && runDir == null && !freshRunDir.equals(resumed.runDir())) {
      throw new UserError("--resume-from needs --run-dir: where the continued run writes (the checkpoint's run is "
          + resumed.runDir() + ")");
    }
    return resumed;
  }

  /**
   * The config a resumed run starts from: a checkpoint's own, or, for a run directory, its newest
   * checkpoint's (written once, with the checkpoint, so a failed attempt that rewrote the run's
   * config.yaml does not carry over), else the run's config.yaml.
   */
  private static Path savedConfigOf(Path checkpointOrRun) {
    if (Files.isRegularFile(checkpointOrRun.resolve(Manifest.FILE))) {
      return checkpointOrRun.resolve(Checkpoint.CONFIG);
    }
    try {
      List<Path> steps = Checkpoints.list(checkpointOrRun);
      for (Path step : steps.reversed()) {
        if (Files.isRegularFile(step.resolve(Checkpoint.CONFIG))) {
          return step.resolve(Checkpoint.CONFIG);
        }
      }
    } catch (IOException e) {
      throw new UserError(Checkpoints.directory(checkpointOrRun) + ": cannot list: " + e.getMessage());
    }
    return checkpointOrRun.resolve(RunDirectory.CONFIG);
  }

  /** The config's layers merged into a tree, not yet checked, and the sources that made it. */
  private record Layers(ObjectNode tree, String source) {
    TrainConfig bind() {
      try {
        return TrainConfigFile.bind(tree, source);
      } catch (ConfigException e) {
        throw new UserError(e.getMessage());
      }
    }
  }

  private Layers layers(Path savedConfig) {
    ObjectNode tree = TrainConfigFile.defaults();
    String source = "flags";
    if (savedConfig != null) {
      try {
        ObjectNode saved = TrainConfigFile.read(savedConfig);
        if (saved.get("trainer") instanceof ObjectNode trainer) {
          trainer.remove("threads"); // this machine's, not the run's (the launcher sets it per worker)
        }
        TrainConfigFile.merge(tree, saved);
      } catch (ConfigException e) {
        throw new UserError(e.getMessage());
      }
      source = savedConfig + (config != null ? ", " : " and ") + source;
    }
    if (config != null) {
      try {
        TrainConfigFile.merge(tree, TrainConfigFile.read(config));
      } catch (ConfigException e) {
        throw new UserError(e.getMessage());
      }
      source = (savedConfig != null ? savedConfig + ", " : "") + config + " and flags";
    }
    set(tree, "run_dir", runDir);
    set(tree, "model.preset", preset);
    set(tree, "model.tokenizer", tokenizer);
    set(tree, "model.hidden_size", hiddenSize);
    set(tree, "model.num_layers", layers);
    set(tree, "model.num_attention_heads", heads);
    set(tree, "model.num_query_groups", kvHeads);
    set(tree, "model.ffn_hidden_size", ffnSize);
    set(tree, "model.max_position_embeddings", maxSeqLen);
    set(tree, "data.data_prefix", dataPrefix);
    set(tree, "data.split", split);
    set(tree, "data.seq_length", seqLen);
    set(tree, "trainer.micro_batch_size", microBatch);
    set(tree, "trainer.global_batch_size", globalBatch);
    set(tree, "trainer.max_steps", maxSteps);
    set(tree, "trainer.seed", seed);
    set(tree, "trainer.val_check_interval", valInterval);
    set(tree, "trainer.limit_val_batches", valBatches);
    set(tree, "trainer.log_every_n_steps", logInterval);
    set(tree, "trainer.threads", threads);
    set(tree, "trainer.backend", backend);
    set(tree, "optim.lr", lr);
    set(tree, "optim.min_lr", minLr);
    set(tree, "optim.warmup_steps", warmupSteps);
    set(tree, "optim.weight_decay", weightDecay);
    set(tree, "optim.clip_grad", clipGrad);
    set(tree, "checkpoint.save_interval", saveInterval);
    set(tree, "checkpoint.save_interval_minutes", saveIntervalMinutes);
    set(tree, "checkpoint.keep_last", keepLast);
    set(tree, "checkpoint.async_save", asyncSave);
    return new Layers(tree, source);
  }

  private static void set(ObjectNode tree, String path, Object value) {
    if (value != null) {
      TrainConfigFile.set(tree, path, value);
    }
  }

  /** One console line per log interval, and every validation. */
  private record ConsoleListener(PrintWriter out, long every) implements TrainListener {
    @Override
    public void info(String line) {
      out.println(line);
    }

    @Override
    public void step(StepMetrics m) {
      if (m.step() % every == 0 || m.step() == 1 || m.step() == m.maxSteps()) {
        out.printf(Locale.ROOT, "step %5d/%d | loss %.4f | lr %.2e | grad norm %.3f | %s tok/s | MFU %.1f%% | ETA %s%n",
            m.step(), m.maxSteps(), m.loss(), m.lr(), m.gradientNorm(), StatusLine.count(m.tokensPerSec()),
            100 * m.mfu(), StatusLine.duration(m.etaSeconds()));
      }
    }

    @Override
    public void validation(long step, double loss) {
      out.printf(Locale.ROOT, "validation at step %d: val_loss %.4f (perplexity %.1f)%n", step, loss, Math.exp(loss));
    }
  }
}
