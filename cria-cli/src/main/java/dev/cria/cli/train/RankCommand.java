package dev.cria.cli.train;

import dev.cria.cli.UserError;
import dev.cria.cli.progress.StatusLine;
import dev.cria.engine.parallel.CollectiveException;
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
import dev.cria.train.distributed.CollectiveKind;
import dev.cria.train.distributed.LauncherLink;
import dev.cria.train.distributed.RankEnvironment;
import dev.cria.train.metrics.StepMetrics;
import dev.cria.train.metrics.TrainListener;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The options and the body that {@code cria train} and {@code cria worker} share: resolve the
 * config, then train this process's rank, or (train only) start and watch local workers.
 */
public abstract class RankCommand implements Callable<Integer> {
  @Spec protected CommandSpec spec;

  /** The config file, its overrides and the flags that shape the run's config. */
  @Mixin protected RunOptions run;

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
      names = "--write-initial-weights",
      paramLabel = "FILE",
      description =
          "Also write the initial weights as safetensors (to start another implementation from them).")
  Path initialWeights;

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
    if (joinTimeout < 1 || collectiveTimeout < 1) {
      throw new UserError(
          (joinTimeout < 1 ? "--join-timeout " + joinTimeout : "--timeout " + collectiveTimeout)
              + ": a wait of at least 1 second (0 would give up on every peer at once)");
    }
    collectiveKind(); // a bad name is refused before anything starts
    try {
      RunConfig.Resolved resolved = RunConfig.read(request());
      // saved with absolute paths, the run's config serves eval and resume from any directory
      TrainConfig c = resolved.config().withPathsFrom(Path.of(""));
      if (printConfig) {
        out.print(NemoRender.toYaml(c, resolved.notes()));
        out.flush();
        return 0;
      }
      if (!isWorker() || announcesConfig()) {
        resolved.notes().forEach(out::println);
      }
      TrainStart start = new TrainStart(resumes(), resumeFrom, initFrom, initialWeights, startOver);
      if (check) {
        int ranks = isWorker() ? RankEnvironment.fromEnvironment().worldSize() : nproc;
        int perHost = isWorker() ? MemoryPlan.Job.ranksOnThisHost(System.getenv(), ranks) : nproc;
        RankRun.check(
            c,
            ranks,
            perHost,
            start,
            overwrite,
            new ConsoleListener(out, c.trainer().logEveryNSteps()));
        out.flush();
        return 0;
      }
      if (!isWorker() && nproc > 1) {
        return new LocalLauncher(workerCommand(), out)
            .launch(c, nproc, run.threads(), overwrite, start);
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
                  start,
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
    if (!result.stopped() && result.steps() == result.resumedFrom() && result.steps() > 0) {
      out.printf(
          Locale.ROOT,
          "done: nothing to train, the run is already at step %d of trainer.max_steps %d;"
              + " raise --max-steps to continue it%n",
          result.steps(),
          c.trainer().maxSteps());
    } else {
      printSteps(out, result);
    }
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

  private static void printSteps(PrintWriter out, TrainResult result) {
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
    return run.request(runDir, resumes(), overwrite, resumeFrom, initFrom);
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
