package dev.cria.cli.k8s;

import dev.cria.cli.UserError;
import dev.cria.k8s.Cluster;
import dev.cria.k8s.RunObjects;
import dev.cria.k8s.RuntimeRef;
import dev.cria.k8s.SharedRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code cria k8s render runtime}: a Kubeflow Trainer MPI runtime for cria's image that many runs'
 * TrainJobs share ({@code submit train --kind trainjob --runtime NAME}), for an administrator to
 * apply: cluster-wide ({@code ClusterTrainingRuntime}) or in a namespace.
 */
@Command(
    name = "runtime",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description =
        "A Kubeflow Trainer MPI runtime running cria's image, for many runs' TrainJobs to share"
            + " (submit train --kind trainjob --runtime NAME): the nodes' image, resources and"
            + " placement; each TrainJob patches in its run.")
public final class RenderRuntime implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--name", required = true, paramLabel = "NAME", description = "Its name.")
  String name;

  @Option(
      names = "--cluster-wide",
      description = "A ClusterTrainingRuntime (every namespace's TrainJobs may name it).")
  boolean clusterWide;

  @Option(
      names = {"-n", "--namespace"},
      paramLabel = "NS",
      description = "The namespace of a TrainingRuntime (default: the kubeconfig context's).")
  String namespace;

  @Option(
      names = "--image",
      required = true,
      paramLabel = "REF",
      description = "The image with cria, Open MPI and sshd (cria image build).")
  String image;

  @Option(
      names = "--procs-per-worker",
      paramLabel = "P",
      defaultValue = "1",
      description = "MPI slots per node unless a TrainJob says (default: ${DEFAULT-VALUE}).")
  int procsPerWorker;

  @Option(
      names = "--resource",
      paramLabel = "NAME=COUNT",
      description = "An extended resource each node asks for, repeatable: nvidia.com/gpu=8.")
  List<String> resources = new ArrayList<>();

  @Option(names = "--cpu", paramLabel = "CPU", description = "Each node's CPU (request = limit).")
  String cpu;

  @Option(
      names = "--memory",
      paramLabel = "SIZE",
      description = "Each node's memory (request = limit), e.g. 64Gi.")
  String memory;

  @Option(
      names = "--node-selector",
      paramLabel = "K=V",
      description = "A label the nodes' Kubernetes nodes must have, repeatable.")
  List<String> nodeSelector = new ArrayList<>();

  @Option(
      names = "--toleration",
      paramLabel = "KEY[=VALUE][:EFFECT]",
      description = "A taint the nodes tolerate, repeatable.")
  List<String> tolerations = new ArrayList<>();

  @Option(
      names = "--backoff-limit",
      paramLabel = "N",
      defaultValue = "20",
      description =
          "Restarts of a failed TrainJob, each resuming its run (default: ${DEFAULT-VALUE}).")
  int backoffLimit;

  @Mixin ManifestCommand.RenderOutput render;

  @Override
  public Integer call() {
    SharedRuntime runtime;
    try {
      runtime =
          new SharedRuntime(
              new RuntimeRef(clusterWide, name),
              clusterWide ? null : namespace != null ? namespace : Cluster.defaultNamespace(),
              image,
              procsPerWorker,
              ClusterOptions.pairs("--resource", resources),
              cpu,
              memory,
              ClusterOptions.pairs("--node-selector", nodeSelector),
              tolerations,
              backoffLimit);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    RunObjects objects;
    try {
      objects = RunObjects.runtime(runtime);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage()); // a malformed toleration or quantity, named
    }
    ManifestCommand.render(spec.commandLine().getOut(), objects, render.output);
    return 0;
  }
}
