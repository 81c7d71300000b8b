package dev.cria.cli.k8s;

import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The workers of a run's jobs, as flags: how many pods, processes, resources, placement and
 * restarts; what {@code cria k8s render|submit train|compile} adds to {@link ClusterOptions}.
 * Defaults are those of a job with one worker of one process.
 */
public final class WorkerOptions {
  @Option(
      names = "--workers",
      paramLabel = "N",
      defaultValue = "1",
      description = "Worker pods (default: ${DEFAULT-VALUE}).")
  int workers = 1;

  @Option(
      names = "--procs-per-worker",
      paramLabel = "P",
      defaultValue = "1",
      description = "Processes (MPI slots) per worker pod (default: ${DEFAULT-VALUE}).")
  int procsPerWorker = 1;

  @Option(
      names = "--resource",
      paramLabel = "NAME=COUNT",
      description =
          "An extended resource each worker asks for, repeatable: nvidia.com/gpu=8,"
              + " aws.amazon.com/neuron=16, vpc.amazonaws.com/efa=8.")
  List<String> resources = new ArrayList<>();

  @Option(names = "--cpu", paramLabel = "CPU", description = "Each worker's CPU (request = limit).")
  String cpu;

  @Option(
      names = "--memory",
      paramLabel = "SIZE",
      description = "Each worker's memory (request = limit), e.g. 64Gi.")
  String memory;

  @Option(
      names = "--shm-size",
      paramLabel = "SIZE",
      description = "A memory-backed /dev/shm of this size in each worker.")
  String shmSize;

  @Option(
      names = "--node-selector",
      paramLabel = "K=V",
      description = "A label the workers' nodes must have, repeatable.")
  List<String> nodeSelector = new ArrayList<>();

  @Option(
      names = "--toleration",
      paramLabel = "KEY[=VALUE][:EFFECT]",
      description = "A taint the workers tolerate, repeatable.")
  List<String> tolerations = new ArrayList<>();

  @Option(
      names = "--backoff-limit",
      paramLabel = "N",
      defaultValue = "20",
      description =
          "Restarts of a failed job by the operator, each resuming the run"
              + " (default: ${DEFAULT-VALUE}).")
  int backoffLimit = 20;

  @Option(
      names = "--master-port",
      paramLabel = "PORT",
      defaultValue = "29500",
      description = "The port rank 0 listens on in worker 0 (default: ${DEFAULT-VALUE}).")
  int masterPort = 29500;

  @Option(
      names = "--queue",
      paramLabel = "NAME",
      description =
          "Submit to Kueue: the LocalQueue NAME (the jobs are created suspended with Kueue's"
              + " queue label; Kueue starts them when the queue has quota). Default: start at once.")
  String queue;
}
