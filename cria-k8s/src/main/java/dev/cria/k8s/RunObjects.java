package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.ArrayList;
import java.util.List;

/**
 * The objects one {@code cria k8s render} or {@code submit} is about: the training or compile job
 * with its config, or the board. Printed as kubectl-ready YAML or submitted to a cluster; the
 * board's password is generated at submission and printed by neither.
 */
public final class RunObjects {
  private final ClusterJob job;
  private final List<HasMetadata> objects;
  private final boolean board;
  private final boolean jobSecret;
  private final RuntimeRef sharedRuntime; // made at submission when missing, or null

  private RunObjects(
      ClusterJob job,
      List<HasMetadata> objects,
      boolean board,
      boolean jobSecret,
      RuntimeRef sharedRuntime) {
    this.job = job;
    this.objects = List.copyOf(objects);
    this.board = board;
    this.jobSecret = jobSecret;
    this.sharedRuntime = sharedRuntime;
  }

  /**
   * The training job of kind {@code kind} (with what it needs, such as a TrainJob's runtime) and
   * the ConfigMap with the run's resolved {@code config.yaml}.
   */
  public static RunObjects train(JobKind kind, ClusterJob job, String configYaml) {
    List<HasMetadata> all = new ArrayList<>();
    all.add(Manifests.config(job, configYaml));
    all.addAll(kind.train(job));
    RuntimeRef shared = kind instanceof TrainJobKind t ? t.sharedRuntime() : null;
    return new RunObjects(job, all, false, true, shared);
  }

  /** The compile job of kind {@code kind} and the run's ConfigMap. */
  public static RunObjects compile(JobKind kind, ClusterJob job, String configYaml) {
    List<HasMetadata> all = new ArrayList<>();
    all.add(Manifests.config(job, configYaml));
    all.addAll(kind.compile(job));
    return new RunObjects(job, all, false, false, null);
  }

  /** The prepare Jobs: the Indexed Job of parts and the merge. */
  public static RunObjects prepare(PrepareJob prepare) {
    return new RunObjects(prepare.job(), prepare.objects(), false, false, null);
  }

  /** A runtime many runs' TrainJobs share, alone. */
  public static RunObjects runtime(SharedRuntime runtime) {
    return new RunObjects(null, List.of(runtime.toResource()), false, false, null);
  }

  /** The board's Deployment and Service. */
  public static RunObjects board(ClusterJob job) {
    return new RunObjects(job, Manifests.board(job), true, false, null);
  }

  /** How many objects. */
  public int size() {
    return objects.size();
  }

  /** The objects as YAML; for the board, comments say where its password's Secret comes from. */
  public String yaml() {
    String yaml = Manifests.toYaml(objects);
    if (jobSecret) {
      String secret = Manifests.jobSecretName(job);
      String runtime =
          sharedRuntime == null
              ? ""
              : "# the TrainJob runs on the shared "
                  + sharedRuntime
                  + ": cria k8s render runtime --name "
                  + sharedRuntime.name()
                  + (sharedRuntime.clusterWide() ? " --cluster-wide" : "")
                  + " makes it (cria k8s submit does, when a namespaced one is missing)\n";
      return runtime
          + "# the job secret's Secret ("
          + secret
          + ", key secret: what only this job's ranks know) is made by cria k8s submit;\n# with"
          + " kubectl alone: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > FILE;"
          + " kubectl create secret generic "
          + secret
          + " --from-file=secret=FILE\n"
          + yaml;
    }
    if (!board) {
      return yaml;
    }
    String secret = Manifests.boardName(job);
    return "# the password's Secret ("
        + secret
        + ", key password) is made by cria k8s submit board and shown by cria k8s board-url"
        + " --password;\n# with kubectl alone: kubectl create secret generic "
        + secret
        + " --from-file=password=FILE\n"
        + yaml;
  }

  /** Writes {@link #yaml()} to {@code file} atomically (whole or not at all). */
  public void writeTo(java.nio.file.Path file) throws java.io.IOException {
    dev.cria.core.io.AtomicFiles.writeString(file, yaml());
  }

  /**
   * Submits the objects to {@code cluster} (with a new board password when the board has no Secret
   * yet); a line per object.
   */
  public List<String> submitTo(Cluster cluster) {
    List<HasMetadata> all = new ArrayList<>(objects);
    if (board && !cluster.hasSecret(Manifests.boardName(job))) {
      all.addFirst(Manifests.boardSecret(job, Manifests.newPassword()));
    }
    if (jobSecret && !cluster.hasSecret(Manifests.jobSecretName(job))) {
      // kept across resubmissions, as the run is
      all.addFirst(Manifests.jobSecret(job, Manifests.newJobSecret()));
    }
    List<String> done = new ArrayList<>();
    if (sharedRuntime != null) {
      done.addAll(cluster.ensureRuntime(sharedRuntime, job)); // before the TrainJob names it
    }
    done.addAll(cluster.submit(all));
    return done;
  }
}
