package dev.cria.cli.k8s;

import picocli.CommandLine.Option;

/**
 * {@code --runtime}, as a flag ({@code render|submit train} alone): the shared Kubeflow Trainer
 * runtime a TrainJob runs on instead of the run's own.
 */
public final class SharedRuntimeOption {
  @Option(
      names = "--runtime",
      paramLabel = "[KIND/]NAME",
      description =
          "Run the TrainJob on a shared Kubeflow Trainer runtime that runs cria's image (cria"
              + " k8s render runtime): NAME or trainingruntime/NAME in the namespace (submit"
              + " makes it when missing), or clustertrainingruntime/NAME. The TrainJob sets the"
              + " launcher's command and patches in the run's volumes and placement; the nodes'"
              + " resources are the runtime's. Default: the run's own TrainingRuntime.")
  String runtime;
}
