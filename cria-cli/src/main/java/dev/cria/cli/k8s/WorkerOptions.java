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

  @Option(
      names = "--shm-size",
      paramLabel = "SIZE",
      description = "A memory-backed /dev/shm of this size in each worker.")
  String shmSize;

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
}
