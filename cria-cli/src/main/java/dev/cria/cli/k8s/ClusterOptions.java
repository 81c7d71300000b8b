package dev.cria.cli.k8s;

import dev.cria.cli.UserError;
import dev.cria.k8s.Cluster;
import dev.cria.k8s.ClusterJob;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * Where a run's objects go, as flags: the job's name, its namespace, the image and the shared
 * volume; what every {@code cria k8s render|submit} takes ({@link WorkerOptions} and {@link
 * PlacementOptions} add the workers and their pods for the jobs).
 */
public final class ClusterOptions {
  @Option(
      names = "--job",
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

  /**
   * The job these flags describe, with its workers and its pods' placement as {@code workers} and
   * {@code placement} say (null: the defaults: the board has neither); a wrong flag is named.
   */
  ClusterJob job(WorkerOptions workers, PlacementOptions placement) {
    WorkerOptions w = workers != null ? workers : new WorkerOptions();
    PlacementOptions p = placement != null ? placement : new PlacementOptions();
    List<String> missing = new ArrayList<>();
    if (job == null) {
      missing.add("--job NAME");
    }
    if (image == null || image.isBlank()) {
      missing.add("--image REF (see cria image build)");
    }
    if (sharedPvc == null || sharedPvc.isBlank()) {
      missing.add("--shared-pvc CLAIM (the volume every pod shares)");
    }
    if (!missing.isEmpty()) {
      throw new UserError("missing: " + String.join(", ", missing));
    }
    try {
      return new ClusterJob(
          job,
          namespace != null ? namespace : Cluster.defaultNamespace(),
          image,
          w.workers,
          w.procsPerWorker,
          pairs("--resource", w.resources),
          p.cpu,
          p.memory,
          sharedPvc,
          sharedMount,
          w.shmSize,
          pairs("--node-selector", p.nodeSelector),
          p.tolerations,
          w.backoffLimit,
          w.masterPort,
          p.queue);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
  }

  static Map<String, String> pairs(String flag, List<String> values) {
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
