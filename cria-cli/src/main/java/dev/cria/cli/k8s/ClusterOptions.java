package dev.cria.cli.k8s;

import dev.cria.cli.UserError;
import dev.cria.k8s.Cluster;
import dev.cria.k8s.ClusterJob;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/** The cluster's facts about a run, as flags: what {@code cria k8s render} adds to a config. */
public final class ClusterOptions {
  @Option(
      names = "--job",
      required = true,
      paramLabel = "NAME",
      description =
          "The job's name: the MPIJob or TrainJob, its pods and the run directory <shared>/cria/runs/NAME"
              + " (a resubmitted job resumes it).")
  String job;

  @Option(
      names = {"-n", "--namespace"},
      paramLabel = "NS",
      description = "Namespace (default: the kubeconfig context's, else default).")
  String namespace;

  @Option(
      names = "--image",
      paramLabel = "REF",
      description = "The image with cria, Open MPI and sshd (see README, On Kubernetes).")
  String image;

  @Option(
      names = "--workers",
      paramLabel = "N",
      defaultValue = "1",
      description = "Worker pods (default: ${DEFAULT-VALUE}).")
  int workers;

  @Option(
      names = "--procs-per-worker",
      paramLabel = "P",
      defaultValue = "1",
      description = "Processes (MPI slots) per worker pod (default: ${DEFAULT-VALUE}).")
  int procsPerWorker;

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
      names = "--shared-pvc",
      paramLabel = "CLAIM",
      description = "The PersistentVolumeClaim every pod mounts: data, runs, checkpoints.")
  String sharedPvc;

  @Option(
      names = "--shared-mount",
      paramLabel = "PATH",
      defaultValue = "/shared",
      description = "Where the shared volume is mounted (default: ${DEFAULT-VALUE}).")
  String sharedMount;

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
  int backoffLimit;

  @Option(
      names = "--master-port",
      paramLabel = "PORT",
      defaultValue = "29500",
      description = "The port rank 0 listens on in worker 0 (default: ${DEFAULT-VALUE}).")
  int masterPort;

  /** The job these flags describe; a wrong one names its flag. */
  ClusterJob job() {
    try {
      return new ClusterJob(
          job,
          namespace != null ? namespace : Cluster.defaultNamespace(),
          image,
          workers,
          procsPerWorker,
          pairs("--resource", resources),
          cpu,
          memory,
          sharedPvc,
          sharedMount,
          shmSize,
          pairs("--node-selector", nodeSelector),
          tolerations,
          backoffLimit,
          masterPort);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
  }

  private static Map<String, String> pairs(String flag, List<String> values) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String v : values) {
      int eq = v.indexOf('=');
      if (eq <= 0) {
        throw new UserError(flag + " " + v + ": expected NAME=VALUE");
      }
      out.put(v.substring(0, eq), v.substring(eq + 1));
    }
    return out;
  }
}
