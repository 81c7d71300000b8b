package dev.cria.cli.k8s;

import dev.cria.cli.UserError;
import dev.cria.cli.train.RankCommand;
import dev.cria.k8s.Cluster;
import dev.cria.k8s.ClusterJob;
import dev.cria.k8s.JobKind;
import dev.cria.k8s.K8sException;
import dev.cria.k8s.RunObjects;
import dev.cria.train.RunConfig;
import dev.cria.train.TrainingSetup;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfigFile;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code cria k8s render|submit train|compile|board}: the run's objects from {@code cria train}'s
 * config and flags plus the cluster's facts, printed (render) or applied (submit).
 */
public abstract class ManifestCommand extends RankCommand {
  /** Which objects. */
  enum What {
    TRAIN,
    COMPILE,
    BOARD
  }

  @Mixin ClusterOptions cluster;

  @Option(
      names = "--output",
      paramLabel = "FILE",
      description = "render: write the YAML to FILE instead of printing it.")
  Path output;

  @Option(
      names = "--kind",
      paramLabel = "KIND",
      description =
          "train and compile: mpijob (the Kubeflow MPI Operator's MPIJob) or trainjob (Kubeflow"
              + " Trainer v2's TrainJob with its MPI TrainingRuntime). Default: submit uses the"
              + " one the cluster serves (the MPIJob when it serves both); render mpijob.")
  String kind;

  abstract What what();

  abstract boolean apply();

  @Override
  protected boolean isWorker() {
    return false;
  }

  @Override
  protected int processes() {
    return 1;
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    ClusterJob job = cluster.job();
    RunObjects objects;
    if (what() == What.BOARD) {
      objects = RunObjects.board(job);
    } else {
      RunConfig.Resolved resolved;
      try {
        resolved = RunConfig.read(requestFor(job.runDir()));
        TrainingSetup.requireBatchFits(resolved.config(), job.worldSize());
      } catch (ConfigException e) {
        throw new UserError(e.getMessage());
      }
      String config = TrainConfigFile.toYaml(resolved.config());
      JobKind k = jobKind(job);
      objects =
          what() == What.TRAIN
              ? RunObjects.train(k, job, config)
              : RunObjects.compile(k, job, config);
      if (!apply()) {
        resolved.notes().forEach(n -> out.println("# " + n));
      }
    }
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
    out.println(
        what() == What.BOARD
            ? "open it: cria k8s board-url " + job.name()
            : "watch it: cria k8s status " + job.name() + "   cria k8s logs " + job.name() + " -f");
    out.flush();
    return 0;
  }

  /** {@code --kind}, else (submit) what the cluster serves, else the MPIJob. */
  private JobKind jobKind(ClusterJob job) {
    if (kind != null) {
      try {
        return JobKind.parse(kind);
      } catch (IllegalArgumentException e) {
        throw new UserError(e.getMessage());
      }
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

  private void render(PrintWriter out, RunObjects objects) {
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

  /** {@code cria k8s render train}. */
  @Command(
      name = "train",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description =
          "The training job (MPIJob or TrainJob) and its config, from cria train's flags.")
  public static final class RenderTrain extends ManifestCommand {
    @Override
    What what() {
      return What.TRAIN;
    }

    @Override
    boolean apply() {
      return false;
    }
  }

  /** {@code cria k8s render compile}. */
  @Command(
      name = "compile",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "The compile job: the run's checks and its index cache, before the work.")
  public static final class RenderCompile extends ManifestCommand {
    @Override
    What what() {
      return What.COMPILE;
    }

    @Override
    boolean apply() {
      return false;
    }
  }

  /** {@code cria k8s render board}. */
  @Command(
      name = "board",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "The board's Deployment and Service over the shared runs.")
  public static final class RenderBoard extends ManifestCommand {
    @Override
    What what() {
      return What.BOARD;
    }

    @Override
    boolean apply() {
      return false;
    }
  }

  /** {@code cria k8s submit train}. */
  @Command(
      name = "train",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "Submit the training job (a resubmission resumes the run).")
  public static final class SubmitTrain extends ManifestCommand {
    @Override
    What what() {
      return What.TRAIN;
    }

    @Override
    boolean apply() {
      return true;
    }
  }

  /** {@code cria k8s submit compile}. */
  @Command(
      name = "compile",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "Submit the compile job.")
  public static final class SubmitCompile extends ManifestCommand {
    @Override
    What what() {
      return What.COMPILE;
    }

    @Override
    boolean apply() {
      return true;
    }
  }

  /** {@code cria k8s submit board}. */
  @Command(
      name = "board",
      mixinStandardHelpOptions = true,
      sortOptions = false,
      description = "Deploy the board, with a generated password in a Secret (kept if there).")
  public static final class SubmitBoard extends ManifestCommand {
    @Override
    What what() {
      return What.BOARD;
    }

    @Override
    boolean apply() {
      return true;
    }
  }
}
