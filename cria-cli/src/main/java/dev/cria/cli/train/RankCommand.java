package dev.cria.cli.train;

import dev.cria.cli.UserError;
import dev.cria.cli.progress.StatusLine;
import dev.cria.train.LocalLauncher;
import dev.cria.train.RankRun;
import dev.cria.train.RunConfig;
import dev.cria.train.TrainResult;
import dev.cria.train.TrainingException;
import dev.cria.train.checkpoint.CheckpointException;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.compile.MemoryPlan;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.NemoRender;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.distributed.CollectiveException;
import dev.cria.train.distributed.CollectiveKind;
import dev.cria.train.distributed.LauncherLink;
import dev.cria.train.distributed.RankEnvironment;
import dev.cria.train.metrics.StepMetrics;
import dev.cria.train.metrics.TrainListener;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * The options and the body that {@code cria train} and {@code cria worker} share: resolve the
 * config, then train this process's rank, or (train only) start and watch local workers.
 */
public abstract class RankCommand implements Callable<Integer> {
  @Spec protected CommandSpec spec;

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description =
          "YAML config: cria's (sections model, data, trainer, optim, checkpoint, distributed) or"
              + " NeMo's Megatron"
              + " GPT config (trainer, exp_manager, model with data, optim, tokenizer).")
  Path config;

  @Parameters(
      paramLabel = "KEY=VALUE",
      arity = "0..*",
      description =
          "Hydra-style overrides of the config file's keys, after the flags: key=value changes one,"
              + " +key=value adds one, ++key=value sets one either way, ~key removes one"
              + " (model.optim.lr=3e-4, model.data.data_prefix=[1.0,/data/x_text_document]).")
  List<String> assignments = new ArrayList<>();

  @Option(
      names = "--check",
      description =
          "Check the run before any work and exit (the compile job on a cluster): the config, the"
              + " tokenizer, the data, the memory of a rank (of --nproc ranks); builds the sample"
              + " index cache.")
  boolean check;

  @Option(
      names = "--print-config",
      description =
          "Print the resolved config in NeMo's layout (and the keys that have no effect) and exit.")
  boolean printConfig;

  @Option(
      names = "--run-dir",
      paramLabel = "DIR",
      description = "Where the run writes its files (default: runs/cria).")
  String runDir;

  @Option(
      names = "--overwrite",
      description = "Replace a run already in --run-dir (its checkpoints too).")
  boolean overwrite;

  @Option(
      names = "--no-resume",
      description = "Never continue a run: an existing --run-dir is refused.")
  boolean noResume;

  @Option(
      names = "--start-over",
      description =
          "When every checkpoint of --run-dir is damaged, train it again from step 0 (they are kept as"
              + " abandoned-step-N) instead of refusing.")
  boolean startOver;

  @Option(
      names = "--resume-from",
      paramLabel = "PATH",
      description =
          "Continue from this checkpoint (a step-N directory, or a run directory's newest).")
  Path resumeFrom;

  @Option(
      names = "--init-from",
      paramLabel = "HF_DIR",
      description =
          "Start from a Hugging Face Llama (config.json, safetensors) instead of random weights.")
  Path initFrom;

  @Option(
      names = "--save-interval",
      paramLabel = "N",
      description = "Save a checkpoint every N steps (default: 0, off).")
  Long saveInterval;

  @Option(
      names = "--save-interval-minutes",
      paramLabel = "T",
      description = "Save a checkpoint every T minutes of wall clock (default: 30).")
  Double saveIntervalMinutes;

  @Option(names = "--keep-last", paramLabel = "K", description = "Checkpoints kept (default: 2).")
  Integer keepLast;

  @Option(
      names = "--async-save",
      negatable = true,
      paramLabel = "BOOL",
      description =
          "Write periodic checkpoints in the background from a copy in memory (default: off).")
  Boolean asyncSave;

  @Option(
      names = "--preset",
      paramLabel = "NAME",
      description = "Model preset: tiny, small, llama2-7b, llama2-13b, llama2-70b (default: tiny).")
  String preset;

  @Option(
      names = "--tokenizer",
      paramLabel = "PATH",
      description = "The tokenizer that prepared the data; sets the vocabulary.")
  String tokenizer;

  @Option(
      names = "--hidden-size",
      paramLabel = "D",
      description = "Model width (default: the preset's).")
  Integer hiddenSize;

  @Option(
      names = "--layers",
      paramLabel = "L",
      description = "Transformer blocks (default: the preset's).")
  Integer layers;

  @Option(
      names = "--heads",
      paramLabel = "H",
      description = "Attention heads (default: the preset's).")
  Integer heads;

  @Option(
      names = "--kv-heads",
      paramLabel = "G",
      description = "Key/value heads, for grouped-query attention.")
  Integer kvHeads;

  @Option(
      names = "--ffn-size",
      paramLabel = "F",
      description = "MLP hidden size (default: Meta's rule).")
  Integer ffnSize;

  @Option(
      names = "--max-seq-len",
      paramLabel = "T",
      description = "Longest sequence the model accepts.")
  Integer maxSeqLen;

  @Option(
      names = "--data-prefix",
      arity = "1..*",
      paramLabel = "PREFIX",
      description =
          "Dataset prefix (PREFIX.bin/.idx), or weight and prefix pairs to blend: 0.7 A 0.3 B.")
  List<String> dataPrefix;

  @Option(
      names = "--split",
      paramLabel = "TRAIN,VALID,TEST",
      description = "Document split, Megatron's (default: 969,30,1).")
  String split;

  @Option(
      names = "--seq-len",
      paramLabel = "T",
      description = "Tokens per sample (default, or 0: the model's maximum).")
  Integer seqLen;

  @Option(
      names = "--micro-batch",
      paramLabel = "B",
      description = "Samples per forward/backward (default: 4).")
  Integer microBatch;

  @Option(
      names = "--global-batch",
      paramLabel = "G",
      description = "Samples per optimizer step (default: 8).")
  Integer globalBatch;

  @Option(names = "--max-steps", paramLabel = "N", description = "Optimizer steps (default: 100).")
  Long maxSteps;

  @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default: 1e-3).")
  Double lr;

  @Option(
      names = "--min-lr",
      paramLabel = "LR",
      description = "Learning rate at the end of the cosine (default: 1e-4).")
  Double minLr;

  @Option(
      names = "--warmup-steps",
      paramLabel = "N",
      description = "Linear warmup steps (default: 10, or max steps - 1 when that is fewer).")
  Long warmupSteps;

  @Option(
      names = "--weight-decay",
      paramLabel = "W",
      description = "AdamW decoupled weight decay (default: 0.1).")
  Double weightDecay;

  @Option(
      names = "--clip-grad",
      paramLabel = "NORM",
      description = "Global gradient norm limit, 0 for none (default: 1.0).")
  Double clipGrad;

  @Option(
      names = "--seed",
      paramLabel = "N",
      description = "Seed of the initial weights and the sample order (default: 1234).")
  Long seed;

  @Option(
      names = "--val-interval",
      paramLabel = "N",
      description = "Validate every N steps, 0 only at the end (default: 50).")
  Long valInterval;

  @Option(
      names = "--val-batches",
      paramLabel = "N",
      description = "Global batches per validation, 0 for none (default: 4).")
  Integer valBatches;

  @Option(
      names = "--log-interval",
      paramLabel = "N",
      description = "Console line every N steps (default: 10).")
  Long logInterval;

  @Option(
      names = "--threads",
      paramLabel = "N",
      description = "Compute threads (default: all cores).")
  Integer threads;

  @Option(
      names = "--backend",
      paramLabel = "NAME",
      description =
          "Engine backend: auto, cpu, reference (trainer.backend; default: auto, the best available).")
  String backend;

  @Option(
      names = "--compile-cache",
      paramLabel = "DIR",
      description =
          "Where cria compile keeps the kernels it tuned for this machine and the ranks look for"
              + " them (trainer.compile_cache; default: compile-cache beside the run directory).")
  String compileCache;

  @Option(
      names = "--no-compile-cache",
      description =
          "Run the backend's default kernels, ignoring the compile cache"
              + " (trainer.use_compile_cache: false).")
  boolean noCompileCache;

  @Option(
      names = "--join-timeout",
      paramLabel = "SECONDS",
      defaultValue = "120",
      description =
          "With several workers: how long to wait for all of them to join (default: ${DEFAULT-VALUE}).")
  int joinTimeout;

  @Option(
      names = "--timeout",
      paramLabel = "SECONDS",
      defaultValue = "300",
      description =
          "With several workers: how long a collective may wait for a peer (default: ${DEFAULT-VALUE}).")
  int collectiveTimeout;

  @Option(
      names = "--collective",
      paramLabel = "KIND",
      defaultValue = "auto",
      description =
          "With several workers: auto (Open MPI's collectives under mpirun when libmpi loads;"
              + " else shared memory when every rank is on this host; else a TCP ring), mpi, shm"
              + " or tcp (default: ${DEFAULT-VALUE}).")
  String collective;

  @Option(
      names = "--recompute",
      negatable = true,
      description =
          "Keep only each layer's input and recompute the rest in the backward pass: less memory"
              + " for activations, a third more compute (model.recompute; default: off).")
  Boolean recompute;

  @Option(
      names = "--zero",
      paramLabel = "STAGE",
      description =
          "With several workers: 1 shards the optimizer state, 2 the gradients too, reduced per"
              + " micro-batch (distributed.zero_stage; default: 1).")
  Integer zeroStage;

  @Option(
      names = "--bucket-cap-mb",
      paramLabel = "MB",
      description =
          "With several workers: MiB of gradients per bucket, layers joined until one holds that"
              + " much; 0 a bucket per layer (distributed.bucket_cap_mb; default: 0).")
  Double bucketCapMb;

  @Option(
      names = "--write-initial-weights",
      paramLabel = "FILE",
      description =
          "Also write the initial weights as safetensors (to start another implementation from them).")
  Path initialWeights;

  /**
   * This command's config request with the run directory set to {@code runDir} (as a pod sees it),
   * never continuing a local run: what {@code cria k8s render} puts in the run's ConfigMap.
   */
  protected RunConfig.Request requestFor(String podRunDir) {
    if (runDir != null) {
      throw new UserError(
          "--run-dir "
              + runDir
              + ": on a cluster the run directory is <shared>/cria/runs/JOB,"
              + " named after the job so that a resubmission resumes it");
    }
    if (check || printConfig || overwrite || noResume || startOver) {
      throw new UserError(
          "--check, --print-config, --overwrite, --no-resume and --start-over are cria train's;"
              + " cria k8s render compile runs the checks on the cluster");
    }
    if (resumeFrom != null || initFrom != null || initialWeights != null) {
      throw new UserError(
          "--resume-from, --init-from and --write-initial-weights are not taken on a cluster yet:"
              + " the job resumes its own run directory by itself");
    }
    Map<String, Object> flags = overrides();
    flags.put("run_dir", podRunDir);
    return new RunConfig.Request(config, flags, false, false, null, null, assignments);
  }

  /** Whether this is {@code cria worker}: one rank of a group described by the environment. */
  protected abstract boolean isWorker();

  /** How many processes {@code cria train} starts on this machine (1: this one trains). */
  protected abstract int processes();

  /**
   * Whether this worker says what it made of the config: rank 0 of a group that mpirun or a pod
   * started (the local launcher has said it already).
   */
  private static boolean announcesConfig() {
    return System.getenv(LauncherLink.PIPE) == null
        && "0"
            .equals(
                System.getenv().getOrDefault("OMPI_COMM_WORLD_RANK", System.getenv("CRIA_RANK")));
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    int nproc = processes();
    if (nproc < 1) {
      throw new UserError("--nproc must be at least 1, got " + nproc);
    }
    collectiveKind(); // a bad name is refused before anything starts
    try {
      RunConfig.Resolved resolved = RunConfig.read(request());
      TrainConfig c = resolved.config();
      if (printConfig) {
        out.print(NemoRender.toYaml(c, resolved.notes()));
        out.flush();
        return 0;
      }
      if (!isWorker() || announcesConfig()) {
        resolved.notes().forEach(out::println);
      }
      if (check) {
        int ranks = isWorker() ? RankEnvironment.fromEnvironment().worldSize() : nproc;
        int perHost = isWorker() ? MemoryPlan.Job.ranksOnThisHost(System.getenv(), ranks) : nproc;
        RankRun.check(c, ranks, perHost, new ConsoleListener(out, c.trainer().logEveryNSteps()));
        out.flush();
        return 0;
      }
      if (!isWorker() && nproc > 1) {
        return new LocalLauncher(workerCommand(), out)
            .launch(c, nproc, threads, overwrite, resumes());
      }
      RankEnvironment env =
          isWorker() ? RankEnvironment.fromEnvironment() : RankEnvironment.single();
      TrainResult result =
          RankRun.train(
              c,
              env,
              new RankRun.Options(
                  overwrite,
                  resumes(),
                  new TrainStart(resumes(), resumeFrom, initFrom, initialWeights, startOver),
                  Duration.ofSeconds(joinTimeout),
                  Duration.ofSeconds(collectiveTimeout),
                  collectiveKind()),
              new ConsoleListener(out, c.trainer().logEveryNSteps()),
              done -> printSummary(out, c, done));
      out.flush();
      return result.stopped() ? 130 : 0;
    } catch (ConfigException | TrainingException | CollectiveException | CheckpointException e) {
      throw new UserError(e.getMessage());
    }
  }

  private static void printSummary(PrintWriter out, TrainConfig c, TrainResult result) {
    out.printf(
        Locale.ROOT,
        "%s %d step(s) in %s: loss %.4f%s%n",
        result.stopped() ? "stopped after" : "done:",
        result.steps(),
        StatusLine.duration(result.seconds()),
        result.lastLoss(),
        Double.isNaN(result.lastValidationLoss())
            ? ""
            : String.format(Locale.ROOT, ", val_loss %.4f", result.lastValidationLoss()));
    out.println(
        "metrics: tensorboard --logdir "
            + Path.of(c.runDir())
            + "   log: "
            + Path.of(c.runDir(), "0", "log"));
    if (result.lastCheckpoint() != null) {
      out.println("checkpoint: " + result.lastCheckpoint());
    }
    out.flush();
  }

  private CollectiveKind collectiveKind() {
    try {
      return CollectiveKind.parse(collective);
    } catch (IllegalArgumentException e) {
      throw new UserError("--collective: " + e.getMessage());
    }
  }

  /**
   * Whether this run continues the run directory's run (or a named checkpoint) when there is one.
   */
  private boolean resumes() {
    return !noResume && !overwrite;
  }

  /** The config this command's file, arguments and flags ask for. */
  protected RunConfig.Request request() {
    return new RunConfig.Request(
        config, overrides(), resumes(), overwrite, resumeFrom, initFrom, assignments);
  }

  /** The flags as config keys, in the order they override the file. */
  private Map<String, Object> overrides() {
    Map<String, Object> o = new LinkedHashMap<>();
    o.put("run_dir", runDir);
    o.put("model.preset", preset);
    o.put("model.tokenizer", tokenizer);
    o.put("model.hidden_size", hiddenSize);
    o.put("model.num_layers", layers);
    o.put("model.num_attention_heads", heads);
    o.put("model.num_query_groups", kvHeads);
    o.put("model.ffn_hidden_size", ffnSize);
    o.put("model.max_position_embeddings", maxSeqLen);
    o.put("model.recompute", recompute);
    o.put("data.data_prefix", dataPrefix);
    o.put("data.split", split);
    o.put("data.seq_length", seqLen);
    o.put("trainer.micro_batch_size", microBatch);
    o.put("trainer.global_batch_size", globalBatch);
    o.put("trainer.max_steps", maxSteps);
    o.put("trainer.seed", seed);
    o.put("trainer.val_check_interval", valInterval);
    o.put("trainer.limit_val_batches", valBatches);
    o.put("trainer.log_every_n_steps", logInterval);
    o.put("trainer.threads", threads);
    o.put("trainer.backend", backend);
    o.put("trainer.compile_cache", compileCache);
    o.put("trainer.use_compile_cache", noCompileCache ? Boolean.FALSE : null);
    o.put("optim.lr", lr);
    o.put("optim.min_lr", minLr);
    o.put("optim.warmup_steps", warmupSteps);
    o.put("optim.weight_decay", weightDecay);
    o.put("optim.clip_grad", clipGrad);
    o.put("checkpoint.save_interval", saveInterval);
    o.put("checkpoint.save_interval_minutes", saveIntervalMinutes);
    o.put("checkpoint.keep_last", keepLast);
    o.put("checkpoint.async_save", asyncSave);
    o.put("distributed.zero_stage", zeroStage);
    o.put("distributed.bucket_cap_mb", bucketCapMb);
    return o;
  }

  /**
   * This JVM's java, flags and class path, running {@code cria worker} with this command's
   * arguments.
   */
  private List<String> workerCommand() {
    List<String> args = new ArrayList<>(spec.commandLine().getParseResult().originalArgs());
    boolean replaced = false;
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      if (!replaced && a.equals("train")) {
        args.set(i, "worker");
        replaced = true;
      } else if (a.equals("--nproc") && i + 1 < args.size()) {
        args.remove(i + 1);
        args.remove(i);
        i--;
      } else if (a.startsWith("--nproc=")) {
        args.remove(i);
        i--;
      }
    }
    return dev.cria.cli.SelfCommand.with(args);
  }

  /** One console line per log interval, and every validation. */
  record ConsoleListener(PrintWriter out, long every) implements TrainListener {
    @Override
    public void info(String line) {
      out.println(line);
    }

    @Override
    public void step(StepMetrics m) {
      if (m.step() % every == 0 || m.step() == 1 || m.step() == m.maxSteps()) {
        out.printf(
            Locale.ROOT,
            "step %5d/%d | loss %.4f | lr %.2e | grad norm %.3f | %s tok/s | MFU %.1f%% | ETA %s%n",
            m.step(),
            m.maxSteps(),
            m.loss(),
            m.lr(),
            m.gradientNorm(),
            StatusLine.count(m.tokensPerSec()),
            100 * m.mfu(),
            StatusLine.duration(m.etaSeconds()));
      }
    }

    @Override
    public void validation(long step, double loss) {
      out.printf(
          Locale.ROOT,
          "validation at step %d: val_loss %.4f (perplexity %.1f)%n",
          step,
          loss,
          Math.exp(loss));
    }
  }
}
