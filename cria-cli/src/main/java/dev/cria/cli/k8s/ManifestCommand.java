package dev.cria.cli.k8s;

import dev.cria.cli.UserError;
import dev.cria.cli.train.RunOptions;
import dev.cria.k8s.Cluster;
import dev.cria.k8s.ClusterJob;
import dev.cria.k8s.JobKind;
import dev.cria.k8s.K8sException;
import dev.cria.k8s.PrepareJob;
import dev.cria.k8s.RunObjects;
import dev.cria.k8s.RuntimeRef;
import dev.cria.train.RunConfig;
import dev.cria.train.TrainingSetup;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfigFile;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code cria k8s render|submit train|compile|board}: a run's objects, printed (render) or applied
 * (submit). Each takes exactly its options: the jobs the run's config options ({@link RunOptions})
 * and the workers' ({@link WorkerOptions}); the board only where its objects go ({@link
 * ClusterOptions}).
 */
public abstract class ManifestCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin ClusterOptions cluster;

  private final boolean apply;

  ManifestCommand(boolean apply) {
    this.apply = apply;
  }

  /** Where render writes the YAML (null: printed); submit has no such option. */
  Path output() {
    return null;
  }

  /** Whether this is submit (else render). */
  boolean apply() {
    return apply;
  }

  /** The job these flags describe. */
  abstract ClusterJob job();

  /** The objects; {@code notes} hears what a render prints before them. */
  abstract RunObjects objects(ClusterJob job, PrintWriter notes);

  /** What to run next, after a submission. */
  abstract String next(ClusterJob job);

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    ClusterJob job = job();
    RunObjects objects = objects(job, out);
    try {
      if (!apply()) {
        render(out, objects);
        return 0;
      }
      try (Cluster c = Cluster.connect(job.namespace())) {
        objects.submitTo(c).forEach(out::println);
      }
    } catch (K8sException e) {
      throw new UserError(e.getMessage());
    }
    out.println(next(job));
    out.flush();
    return 0;
  }

  private void render(PrintWriter out, RunObjects objects) {
    render(out, objects, output());
  }

  /** {@code objects} as YAML: printed, or written to {@code output} (whole or not at all). */
  static void render(PrintWriter out, RunObjects objects, Path output) {
    if (output == null) {
      out.print(objects.yaml());
    } else {
      try {
        objects.writeTo(output);
      } catch (IOException e) {
        throw new UserError(output + ": cannot write: " + e.getMessage());
      }
      out.println("wrote " + objects.size() + " object(s) to " + output);
    }
    out.flush();
  }

  /** The training or the compile job, from {@code cria train}'s config options. */
  abstract static class JobManifest extends ManifestCommand {
    /** The config file, its overrides and the flags that shape the run's config. */
    @Mixin RunOptions run;

    @Mixin WorkerOptions workers;

    @Mixin PlacementOptions placement;

    @Option(
        names = "--kind",
        paramLabel = "KIND",
        description =
            "mpijob (the Kubeflow MPI Operator's MPIJob) or trainjob (Kubeflow Trainer v2's"
                + " TrainJob with its MPI TrainingRuntime). Default: submit uses the one the"
                + " cluster serves (the MPIJob when it serves both); render mpijob.")
    String kind;

    private final boolean training;

    JobManifest(boolean training, boolean apply) {
      super(apply);
      this.training = training;
    }

    /** Whether this is the training job (else the compile job). */
    boolean training() {
      return training;
    }

    /**
     * {@code --runtime}: the shared runtime the TrainJob names, or null (the train job's alone).
     */
    String runtime() {
      return null;
    }

    /** {@code --prepare-*}: the TrainJob's prepare steps, or null (the train job's alone). */
    InitializerOptions initializer() {
      return null;
    }

    @Override
    ClusterJob job() {
      return cluster.job(workers, placement);
    }

    @Override
    RunObjects objects(ClusterJob job, PrintWriter notes) {
      RunConfig.Resolved resolved;
      List<String> unshared;
      try {
        // on a cluster the run directory is named after the job, so a resubmission resumes it
        resolved = RunConfig.read(run.request(job.runDir(), false, false, null, null));
        TrainingSetup.requireLayout(resolved.config(), job.worldSize(), job.procsPerWorker());
        unshared = job.requirePodPaths(TrainingSetup.pathsRead(resolved.config()));
      } catch (ConfigException | IllegalArgumentException e) {
        throw new UserError(e.getMessage());
      }
      String config = TrainConfigFile.toYaml(resolved.config());
      JobKind k = jobKind(job, resolved.config());
      if (!apply()) {
        resolved.notes().forEach(n -> notes.println("# " + n));
        unshared.forEach(n -> notes.println("# warning: " + n));
      } else {
        unshared.forEach(n -> spec.commandLine().getErr().println("warning: " + n));
      }
      try {
        return training() ? RunObjects.train(k, job, config) : RunObjects.compile(k, job, config);
      } catch (IllegalArgumentException e) {
        throw new UserError(e.getMessage());
      }
    }

    @Override
    String next(ClusterJob job) {
      return "watch it: cria k8s status " + job.name() + "   cria k8s logs " + job.name() + " -f";
    }

    /**
     * {@code --kind}, else (submit) what the cluster serves, else the MPIJob; with {@code
     * --runtime}, a TrainJob on that runtime.
     */
    private JobKind jobKind(ClusterJob job, dev.cria.train.config.TrainConfig config) {
      JobKind requested;
      try {
        InitializerOptions steps = initializer();
        requested =
            JobKind.requested(
                kind,
                runtime() == null ? null : RuntimeRef.parse(runtime()),
                steps == null || steps.inputs.isEmpty()
                    ? null
                    : PrepareJob.forRun(
                        job,
                        config.data().dataPrefix(),
                        config.model().tokenizer(),
                        steps.inputs,
                        steps.appendEod,
                        steps.parts,
                        steps.threads,
                        steps.retries));
      } catch (IllegalArgumentException e) {
        throw new UserError(e.getMessage());
      }
      if (requested != null) {
        return requested;
      }
      if (!apply()) {
        return JobKind.MPIJOB;
      }
      try (Cluster c = Cluster.connect(job.namespace())) {
        return c.servedKind();
      } catch (K8sException e) {
        throw new UserError(e.getMessage());
      }
    }
  }

  /** The board: a Deployment and a Service over the shared runs. */
  abstract static class BoardManifest extends ManifestCommand {
    BoardManifest(boolean apply) {
      super(apply);
    }

    @Override
    ClusterJob job() {
      return cluster.job(null, null);
    }

    @Override
    RunObjects objects(ClusterJob job, PrintWriter notes) {
      return RunObjects.board(job);
    }

    @Override
    String next(ClusterJob job) {
      return "open it: cria k8s board-url " + job.name();
    }
  }

  /** Tokenizing the corpus: an Indexed Job of parts and a Job that merges them. */
  abstract static class PrepareManifest extends ManifestCommand {
    PrepareManifest(boolean apply) {
      super(apply);
    }

    @Mixin PlacementOptions placement;

    @Option(
        names = "--input",
        required = true,
        arity = "1..*",
        paramLabel = "PATH",
        description =
            "JSONL files, directories or globs, as the pods see them (on the shared volume).")
    java.util.List<String> inputs;

    @Option(
        names = "--tokenizer",
        required = true,
        paramLabel = "PATH",
        description = "The tokenizer, as the pods see it.")
    String tokenizer;

    @Option(
        names = "--output-prefix",
        required = true,
        paramLabel = "PREFIX",
        description = "The dataset, as the pods see it: PREFIX_<key>_document.bin/.idx.")
    String outputPrefix;

    @Option(
        names = "--json-keys",
        split = ",",
        defaultValue = "text",
        paramLabel = "KEY",
        description = "Keys to tokenize, comma-separated (default: ${DEFAULT-VALUE}).")
    java.util.List<String> jsonKeys;

    @Option(names = "--append-eod", description = "Append the EOS token to every document.")
    boolean appendEod;

    @Option(
        names = "--overwrite",
        description =
            "Replace a dataset that is at --output-prefix already (without it, the Jobs' pods"
                + " find it and fail at once, changing nothing).")
    boolean overwrite;

    @Option(
        names = "--parts",
        paramLabel = "N",
        defaultValue = "8",
        description = "Pods tokenizing a part each, at once (default: ${DEFAULT-VALUE}).")
    int parts;

    @Option(
        names = "--workers",
        paramLabel = "N",
        description = "Tokenizing threads per pod (default: the pod's cores).")
    Integer threads;

    @Option(
        names = "--retries",
        paramLabel = "N",
        defaultValue = "3",
        description = "Retries of one failed part, alone, before the job fails (default: 3).")
    int retries;

    @Override
    ClusterJob job() {
      return cluster.job(null, placement);
    }

    @Override
    RunObjects objects(ClusterJob job, PrintWriter notes) {
      try {
        return RunObjects.prepare(
            new PrepareJob(
                job,
                inputs,
                tokenizer,
                outputPrefix,
                jsonKeys,
                appendEod,
                parts,
                threads,
                retries,
                PrepareJob.newBatch(),
                overwrite));
      } catch (IllegalArgumentException e) {
        throw new UserError(e.getMessage());
      }
    }

    @Override
    String next(ClusterJob job) {
      return "watch it: cria k8s status "
          + job.name()
          + "-prepare   cria k8s logs "
          + job.name()
          + "-merge -f";
    }
  }

  /** {@code cria k8s render prepare}. */
  @Command(
      name = "prepare",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description =
          "Tokenize a corpus on the cluster: an Indexed Job of cria prepare --part I/N pods and a"
              + " Job that merges the parts, byte-identical to one cria prepare of the whole.")
  public static final class RenderPrepare extends PrepareManifest {
    @Mixin RenderOutput render;

    public RenderPrepare() {
      super(false);
    }

    @Override
    Path output() {
      return render.output;
    }
  }

  /** {@code cria k8s submit prepare}. */
  @Command(
      name = "prepare",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "Submit the prepare Jobs: the parts and their merge.")
  public static final class SubmitPrepare extends PrepareManifest {
    public SubmitPrepare() {
      super(true);
    }
  }

  /** {@code cria k8s render train}. */
  @Command(
      name = "train",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description =
          "The training job (MPIJob or TrainJob) and its config, from cria train's config options.")
  public static final class RenderTrain extends JobManifest {
    @Mixin RenderOutput render;

    @Mixin SharedRuntimeOption shared;

    @Mixin InitializerOptions steps;

    public RenderTrain() {
      super(true, false);
    }

    @Override
    String runtime() {
      return shared.runtime;
    }

    @Override
    InitializerOptions initializer() {
      return steps;
    }

    @Override
    Path output() {
      return render.output;
    }
  }

  /** {@code cria k8s render compile}. */
  @Command(
      name = "compile",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "The compile job: the run's checks and its index cache, before the work.")
  public static final class RenderCompile extends JobManifest {
    @Mixin RenderOutput render;

    public RenderCompile() {
      super(false, false);
    }

    @Override
    Path output() {
      return render.output;
    }
  }

  /** {@code cria k8s render board}. */
  @Command(
      name = "board",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "The board's Deployment and Service over the shared runs.")
  public static final class RenderBoard extends BoardManifest {
    @Mixin RenderOutput render;

    public RenderBoard() {
      super(false);
    }

    @Override
    Path output() {
      return render.output;
    }
  }

  /** {@code cria k8s submit train}. */
  @Command(
      name = "train",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "Submit the training job (a resubmission resumes the run).")
  public static final class SubmitTrain extends JobManifest {
    @Mixin SharedRuntimeOption shared;

    @Mixin InitializerOptions steps;

    public SubmitTrain() {
      super(true, true);
    }

    @Override
    String runtime() {
      return shared.runtime;
    }

    @Override
    InitializerOptions initializer() {
      return steps;
    }
  }

  /** {@code cria k8s submit compile}. */
  @Command(
      name = "compile",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "Submit the compile job.")
  public static final class SubmitCompile extends JobManifest {
    public SubmitCompile() {
      super(false, true);
    }
  }

  /** {@code cria k8s submit board}. */
  @Command(
      name = "board",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "Deploy the board, with a generated password in a Secret (kept if there).")
  public static final class SubmitBoard extends BoardManifest {
    public SubmitBoard() {
      super(true);
    }
  }

  /** {@code --output FILE}: render's alone. */
  public static final class RenderOutput {
    @Option(
        names = "--output",
        paramLabel = "FILE",
        description = "Write the YAML to FILE (whole or not at all) instead of printing it.")
    Path output;
  }
}
