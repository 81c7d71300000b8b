package dev.cria.cli.k8s;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code cria k8s}: the run on a Kubernetes cluster with the Kubeflow MPI Operator. */
@Command(
    name = "k8s",
    mixinStandardHelpOptions = true,
    description = {
      "Run on Kubernetes: render and submit the jobs (MPIJob or TrainJob) and the board, watch,"
          + " stop, clean up.",
      "",
      "The cluster is kubectl's: KUBECONFIG or ~/.kube/config and its current context. Every object"
          + " carries app.kubernetes.io/managed-by: cria and cria.dev/run: JOB; the run directory is"
          + " <shared>/cria/runs/JOB, so a resubmitted or restarted job resumes its run.",
      ""
    },
    subcommands = {
      K8sCommand.Render.class,
      K8sCommand.Submit.class,
      JobCommands.Status.class,
      JobCommands.Logs.class,
      JobCommands.Stop.class,
      JobCommands.Cleanup.class,
      JobCommands.BoardUrl.class,
      WaitWorkersCommand.class
    })
public final class K8sCommand implements Runnable {
  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** {@code cria k8s render train|compile|board}. */
  @Command(
      name = "render",
      mixinStandardHelpOptions = true,
      description =
          "Print the manifests (kubectl-ready YAML): prepare, train, compile, board or runtime.",
      subcommands = {
        ManifestCommand.RenderPrepare.class,
        ManifestCommand.RenderTrain.class,
        ManifestCommand.RenderCompile.class,
        ManifestCommand.RenderBoard.class,
        RenderRuntime.class
      })
  public static final class Render implements Runnable {
    @Spec CommandSpec spec;

    @Override
    public void run() {
      spec.commandLine().usage(spec.commandLine().getOut());
    }
  }

  /** {@code cria k8s submit train|compile|board}. */
  @Command(
      name = "submit",
      mixinStandardHelpOptions = true,
      description = "Apply the manifests to the cluster: prepare, train, compile or board.",
      subcommands = {
        ManifestCommand.SubmitPrepare.class,
        ManifestCommand.SubmitTrain.class,
        ManifestCommand.SubmitCompile.class,
        ManifestCommand.SubmitBoard.class
      })
  public static final class Submit implements Runnable {
    @Spec CommandSpec spec;

    @Override
    public void run() {
      spec.commandLine().usage(spec.commandLine().getOut());
    }
  }
}
