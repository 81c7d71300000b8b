package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceList;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.LogWatch;
import io.fabric8.kubernetes.client.dsl.MixedOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.io.OutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A run's objects on a cluster, through the fabric8 client: submit them, read the job's status and
 * pods, the launcher's log, stop the job, clean up everything cria made; the same for every {@link
 * JobKind} (an MPIJob or a TrainJob), found by the job's name. Errors of the API server come back
 * as one line naming the object.
 */
public final class Cluster implements AutoCloseable {
  private final KubernetesClient client;
  private final String namespace;

  public Cluster(KubernetesClient client, String namespace) {
    this.client = client;
    this.namespace = namespace;
  }

  /**
   * The cluster kubectl would use: the kubeconfig ({@code KUBECONFIG} or {@code ~/.kube/config})
   * and its current context; {@code namespace}, or the context's, or {@code default}.
   */
  public static Cluster connect(String namespace) {
    KubernetesClient client = new io.fabric8.kubernetes.client.KubernetesClientBuilder().build();
    return new Cluster(client, namespace != null ? namespace : defaultNamespace());
  }

  /** The current kubeconfig context's namespace, read locally, or {@code default}. */
  public static String defaultNamespace() {
    String ns = io.fabric8.kubernetes.client.Config.autoConfigure(null).getNamespace();
    return ns == null || ns.isBlank() ? "default" : ns;
  }

  /** The namespace this cluster's operations use. */
  public String namespace() {
    return namespace;
  }

  @Override
  public void close() {
    client.close();
  }

  private MixedOperation<
          GenericKubernetesResource,
          GenericKubernetesResourceList,
          Resource<GenericKubernetesResource>>
      resources(ResourceDefinitionContext context) {
    return client.genericKubernetesResources(context);
  }

  /**
   * The kind of job the cluster runs: an MPIJob when the MPI Operator's resource is served, else a
   * TrainJob when Trainer v2's is, else an MPIJob (whose submission then names what is missing).
   */
  public JobKind servedKind() {
    return lookup().servedKind();
  }

  private JobLookup lookup() {
    return new JobLookup(client, namespace);
  }

  private JobLookup.Found find(String name) {
    return lookup().find(name);
  }

  private BatchJobs batch() {
    return new BatchJobs(client, namespace);
  }

  private String noJob(String name) {
    return lookup().noJob(name);
  }

  /**
   * Creates {@code objects}; an object that exists is replaced, except a running job, which is
   * refused (stop it first). A job that has ended is deleted and created again: the new one resumes
   * the run, whose directory is named after the job. Returns a line per object.
   */
  public List<String> submit(List<HasMetadata> objects) {
    // a running job is refused before anything is applied: its pods mount the ConfigMap
    java.util.Set<String> ended = new java.util.HashSet<>();
    for (HasMetadata o : objects) {
      if (o instanceof io.fabric8.kubernetes.api.model.batch.v1.Job) {
        String name = o.getMetadata().getName();
        var existing = batch().get(name);
        if (existing != null && !BatchJobs.ended(existing)) {
          throw new K8sException(
              describe(o)
                  + " already exists ("
                  + BatchJobs.state(existing)
                  + "): stop it first with cria k8s stop "
                  + name);
        }
        if (existing != null) {
          ended.add(name);
        }
        continue;
      }
      JobKind kind = JobKind.ofJob(o);
      if (kind == null) {
        continue;
      }
      String name = o.getMetadata().getName();
      JobLookup.Found existing = find(name);
      JobStatus status =
          existing == null ? null : statusOf(existing, podsOf(existing.kind(), name, false));
      if (status != null && !status.ended()) {
        throw new K8sException(
            describe(existing.job())
                + " already exists ("
                + status.state()
                + "): stop it first with cria k8s stop "
                + name.replaceAll("-compile$", ""));
      }
      if (existing != null) {
        ended.add(name);
      }
    }
    List<String> done = new ArrayList<>();
    for (HasMetadata o : objects) {
      String what = describe(o);
      try {
        if (o instanceof io.fabric8.kubernetes.api.model.batch.v1.Job j) {
          String name = j.getMetadata().getName();
          if (ended.contains(name)) {
            batch().delete(name, true);
            client
                .batch()
                .v1()
                .jobs()
                .inNamespace(namespace)
                .withName(name)
                .waitUntilCondition(java.util.Objects::isNull, 60, TimeUnit.SECONDS);
            done.add(what + ": the ended job was replaced");
          }
          client.batch().v1().jobs().inNamespace(namespace).resource(j).create();
          done.add(what + " created");
          continue;
        }
        JobKind kind = JobKind.ofJob(o);
        if (kind != null) {
          String name = o.getMetadata().getName();
          if (ended.contains(name)) {
            JobLookup.Found old = find(name);
            if (old != null) {
              var gone = resources(old.kind().resource()).inNamespace(namespace).withName(name);
              gone.delete();
              gone.waitUntilCondition(java.util.Objects::isNull, 60, TimeUnit.SECONDS);
            }
            waitUntilGone(name, Duration.ofSeconds(60), false);
            done.add(what + ": the ended job was replaced; the new one resumes its run");
          }
          resources(kind.resource())
              .inNamespace(namespace)
              .resource((GenericKubernetesResource) o)
              .create();
          done.add(what + " created");
          continue;
        }
        ResourceDefinitionContext companion = JobKind.companionOf(o);
        if (companion != null) {
          var ops = resources(companion).inNamespace(namespace);
          if (ops.withName(o.getMetadata().getName()).get() != null) {
            ops.resource((GenericKubernetesResource) o).update();
            done.add(what + " updated");
          } else {
            ops.resource((GenericKubernetesResource) o).create();
            done.add(what + " created");
          }
          continue;
        }
        boolean existed = client.resource(o).inNamespace(namespace).get() != null;
        if (o instanceof Secret && existed) {
          done.add(what + " kept (its secret stays)");
          continue;
        }
        if (existed) {
          client.resource(o).inNamespace(namespace).update();
          done.add(what + " updated");
        } else {
          client.resource(o).inNamespace(namespace).create();
          done.add(what + " created");
        }
      } catch (KubernetesClientException e) {
        throw apiError(what, e);
      }
    }
    return done;
  }

  /** The job's conditions and its pods; fails naming the job when there is none. */
  public JobStatus status(String job) {
    try {
      return statusOf(job);
    } catch (KubernetesClientException e) {
      throw apiError("the job " + namespace + "/" + job, e);
    }
  }

  private JobStatus statusOf(String job) {
    JobLookup.Found found = find(job);
    if (found == null) {
      var plain = batch().get(job);
      if (plain != null) {
        return batch().status(plain);
      }
      throw new K8sException(noJob(job) + " (cria k8s submit makes it)");
    }
    try {
      return statusOf(found, podsOf(found.kind(), job, false));
    } catch (KubernetesClientException e) {
      throw apiError(describe(found.job()), e);
    }
  }

  /**
   * What Kueue says about the job {@code job} when it was submitted to a queue ({@code --queue}):
   * queued, with Kueue's reason, or admitted; empty for a job without Kueue's queue label.
   */
  public java.util.Optional<String> queued(String job) {
    try {
      JobLookup.Found found = find(job);
      HasMetadata object = found != null ? found.job() : batch().get(job);
      io.fabric8.kubernetes.api.model.ObjectMeta meta =
          object == null ? null : object.getMetadata();
      if (meta == null
          || meta.getLabels() == null
          || !meta.getLabels().containsKey(ClusterJob.QUEUE)) {
        return java.util.Optional.empty();
      }
      return java.util.Optional.of(
          new KueueWorkloads(client, namespace)
              .why(meta.getLabels().get(ClusterJob.QUEUE), meta.getUid()));
    } catch (KubernetesClientException e) {
      throw apiError("Kueue's Workload of " + namespace + "/" + job, e);
    }
  }

  /**
   * The pods of the job named {@code name} ({@code <job>} or {@code <job>-compile}) of kind {@code
   * kind} (null: any), or with {@code withCompile} those of both of a run's jobs; never the
   * board's, nor (unless {@code withCompile}) the prepare Jobs'. Pods without the operator's job
   * label count as the training job's.
   */
  private List<Pod> podsOf(JobKind kind, String name, boolean withCompile) {
    String run = name.replaceAll("-compile$", "");
    return client
        .pods()
        .inNamespace(namespace)
        .withLabel(ClusterJob.RUN, run)
        .list()
        .getItems()
        .stream()
        .filter(p -> !"board".equals(label(p, "app.kubernetes.io/component")))
        .filter(p -> {
          if (withCompile) {
            return true;
          }
          if (label(p, BatchJobs.JOB_NAME) != null && label(p, TrainJobKind.JOBSET_NAME) == null) {
            return false; // a plain Job's (prepare, merge), never the training job's
          }
          String owner = null;
          for (JobKind k : kind == null ? JobKind.all() : List.of(kind)) {
            owner = owner != null ? owner : label(p, k.jobLabel());
          }
          return name.equals(owner == null ? run : owner);
        })
        .sorted(Comparator.comparing(p -> p.getMetadata().getName()))
        .toList();
  }

  private static String label(Pod p, String key) {
    Map<String, String> labels = p.getMetadata().getLabels();
    return labels == null ? null : labels.get(key);
  }

  private static JobStatus statusOf(JobLookup.Found found, List<Pod> pods) {
    GenericKubernetesResource job = found.job();
    List<JobStatus.Condition> conditions = new ArrayList<>();
    Object status = job.getAdditionalProperties().get("status");
    if (status instanceof Map<?, ?> s && s.get("conditions") instanceof List<?> list) {
      for (Object item : list) {
        if (item instanceof Map<?, ?> c) {
          conditions.add(
              new JobStatus.Condition(
                  text(c.get("type")),
                  text(c.get("status")),
                  text(c.get("reason")),
                  text(c.get("message")),
                  text(c.get("lastTransitionTime"))));
        }
      }
    }
    String state = "Pending";
    for (JobStatus.Condition c : conditions) {
      if ("True".equals(c.status())) {
        state = found.kind().state(c.type());
      }
    }
    // Trainer v2 sets no Running condition (only Suspended, Complete, Failed): its pods say it
    if ((state.equals("Pending") || state.equals("Created"))
        && pods.stream()
            .anyMatch(p -> p.getStatus() != null && "Running".equals(p.getStatus().getPhase()))) {
      state = "Running";
    }
    List<JobStatus.Pod> podStates = new ArrayList<>();
    for (Pod p : pods) {
      int restarts = 0;
      if (p.getStatus() != null && p.getStatus().getContainerStatuses() != null) {
        restarts =
            p.getStatus().getContainerStatuses().stream()
                .mapToInt(cs -> cs.getRestartCount() == null ? 0 : cs.getRestartCount())
                .sum();
      }
      Map<String, String> labels = p.getMetadata().getLabels();
      podStates.add(
          new JobStatus.Pod(
              p.getMetadata().getName(),
              labels == null ? "" : found.kind().role(labels),
              p.getStatus() == null || p.getStatus().getPhase() == null
                  ? "Unknown"
                  : p.getStatus().getPhase(),
              restarts));
    }
    return new JobStatus(
        found.kind().kind(), job.getMetadata().getName(), state, conditions, podStates);
  }

  private static String text(Object o) {
    return o == null ? "" : o.toString();
  }

  /**
   * Every rank's status, read in a running worker pod of the job {@code status} describes (for a
   * user who does not mount the shared volume): the run directory comes from the job's ConfigMap.
   * Takes the status already read, so that the job and its pods are not listed twice.
   */
  public List<dev.cria.core.run.RankStatus> rankStatuses(JobStatus status) {
    return new RankStatusReader(client, namespace).read(status);
  }

  /**
   * The launcher pod of {@code job}, which holds every rank's output (mpirun gathers it); its pods
   * are read by any kind's labels when the job object itself is gone.
   */
  public String launcherPod(String job) {
    try {
      return launcherPodOf(job);
    } catch (KubernetesClientException e) {
      throw apiError("the pods of " + namespace + "/" + job, e);
    }
  }

  private String launcherPodOf(String job) {
    JobLookup.Found found = find(job);
    if (found == null && batch().get(job) != null) {
      String pod = batch().newestPod(job);
      if (pod == null) {
        throw new K8sException(
            "Job " + namespace + "/" + job + " has no pod yet (cria k8s status " + job + ")");
      }
      return pod;
    }
    List<JobKind> kinds = found == null ? JobKind.all() : List.of(found.kind());
    return podsOf(found == null ? null : found.kind(), job, false).stream()
        .filter(p -> kinds.stream().anyMatch(k -> "launcher".equals(k.role(labels(p)))))
        .max(
            Comparator.comparing((Pod p) -> String.valueOf(p.getMetadata().getCreationTimestamp())))
        .map(p -> p.getMetadata().getName())
        .orElseThrow(() ->
            new K8sException(
                found == null
                    ? noJob(job) + " (cria k8s submit makes it)"
                    : describe(found.job())
                        + " has no launcher pod yet (cria k8s status "
                        + job
                        + " shows its pods)"));
  }

  private static Map<String, String> labels(Pod p) {
    Map<String, String> labels = p.getMetadata().getLabels();
    return labels == null ? Map.of() : labels;
  }

  /** The launcher's log so far. */
  public String log(String job) {
    String pod = launcherPod(job);
    try {
      return client.pods().inNamespace(namespace).withName(pod).getLog();
    } catch (KubernetesClientException e) {
      throw apiError("pod " + namespace + "/" + pod, e);
    }
  }

  /** Copies the launcher's log into {@code out} as it grows, until the pod's log ends. */
  public void follow(String job, OutputStream out) {
    String pod = launcherPod(job);
    try (LogWatch watch = client.pods().inNamespace(namespace).withName(pod).watchLog(out)) {
      watch.onClose().toCompletableFuture().join();
    } catch (KubernetesClientException e) {
      throw apiError("pod " + namespace + "/" + pod, e);
    }
  }

  /**
   * Deletes the job (and its compile job), with the objects of its kind that go with it, and waits
   * until their pods are gone; returns what was removed. The run's files stay on the shared volume,
   * so a new submission resumes.
   */
  public List<String> stop(String job, Duration patience) {
    try {
      return stopJob(job, patience);
    } catch (KubernetesClientException e) {
      throw apiError("stopping " + namespace + "/" + job, e);
    }
  }

  private List<String> stopJob(String job, Duration patience) {
    if (find(job) == null && batch().get(job) != null) {
      // a prepare Job by its own name: it and its sibling, never the run's training job
      List<String> names =
          job.matches(".*-(prepare|merge)")
              ? List.of(
                  job.replaceAll("-(prepare|merge)$", "-prepare"),
                  job.replaceAll("-(prepare|merge)$", "-merge"))
              : List.of(job);
      List<String> removed = new ArrayList<>();
      for (String name : names) {
        if (batch().get(name) != null) {
          removed.addAll(batch().delete(name, true));
        }
      }
      return removed;
    }
    List<String> removed = new ArrayList<>();
    List<String> podNames =
        podsOf(null, job, true).stream().map(p -> p.getMetadata().getName()).toList();
    for (String name : List.of(job, job + "-compile")) {
      JobLookup.Found found = find(name);
      if (found == null) {
        continue;
      }
      try {
        resources(found.kind().resource()).inNamespace(namespace).withName(name).delete();
        removed.add(describe(found.job()));
        for (ResourceDefinitionContext c : found.kind().companions()) {
          GenericKubernetesResource companion =
              resources(c).inNamespace(namespace).withName(name).get();
          if (companion != null
              && companion.getMetadata().getLabels() != null
              && job.equals(companion.getMetadata().getLabels().get(ClusterJob.RUN))) {
            resources(c).inNamespace(namespace).withName(name).delete(); // the run's own only
            removed.add(c.getKind() + " " + namespace + "/" + name);
          }
        }
      } catch (KubernetesClientException e) {
        throw apiError(describe(found.job()), e);
      }
    }
    for (String name : List.of(job + "-prepare", job + "-merge", job)) {
      if (batch().get(name) != null) {
        removed.addAll(batch().delete(name, false)); // its pods go with the run's, below
      }
    }
    if (removed.isEmpty()) {
      throw new K8sException(noJob(job) + ": nothing to stop");
    }
    for (String pod : podNames) {
      client.pods().inNamespace(namespace).withName(pod).delete(); // the operator would, too
      removed.add("pod " + namespace + "/" + pod);
    }
    waitUntilGone(job, patience, true);
    return removed;
  }

  private void waitUntilGone(String name, Duration patience, boolean withCompile) {
    long deadline = System.nanoTime() + patience.toNanos();
    while (!podsOf(null, name, withCompile).isEmpty()) {
      if (System.nanoTime() > deadline) {
        throw new K8sException(
            "the pods of "
                + namespace
                + "/"
                + name
                + " are still there after "
                + patience.toSeconds()
                + " s: "
                + String.join(
                    ", ",
                    podsOf(null, name, withCompile).stream()
                        .map(p -> p.getMetadata().getName())
                        .toList()));
      }
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new K8sException("interrupted while waiting for the pods of " + name);
      }
    }
  }

  /** Waits until no pod of {@code job}'s jobs is left (after a cleanup, before its files go). */
  public void awaitPodsGone(String job, Duration patience) {
    waitUntilGone(job, patience, true);
  }

  /**
   * Deletes every object cria made for {@code job} (every run's, when null): MPIJobs, TrainJobs and
   * their TrainingRuntimes, pods, ConfigMaps, Secrets, Deployments, Services labelled {@code
   * app.kubernetes.io/managed-by: cria}. Nothing else is touched. Returns what was removed.
   */
  public List<String> cleanup(String job) {
    return new RunCleanup(client, namespace).cleanup(job);
  }

  /**
   * Makes sure the shared runtime {@code ref} a TrainJob of {@code job} names is there: a missing
   * namespaced one is made from the job's image, a missing cluster-wide one refused naming the
   * command that makes it. A line per thing done or noticed.
   */
  public List<String> ensureRuntime(RuntimeRef ref, ClusterJob job) {
    return new SharedRuntimes(client, namespace).ensure(ref, job);
  }

  /**
   * How to open the board of {@code job}: the port-forward to run, the URL and the user; the
   * password only when {@code withPassword}.
   */
  public List<String> boardUrl(String job, boolean withPassword) {
    return new BoardAddress(client, namespace).lines(job, withPassword);
  }

  /** Whether the Secret {@code name} exists (submission keeps an existing password or secret). */
  public boolean hasSecret(String name) {
    try {
      return client.secrets().inNamespace(namespace).withName(name).get() != null;
    } catch (KubernetesClientException e) {
      throw apiError("Secret " + namespace + "/" + name, e);
    }
  }

  private String describe(HasMetadata o) {
    return o.getKind() + " " + namespace + "/" + o.getMetadata().getName();
  }

  static K8sException apiError(String what, KubernetesClientException e) {
    if (e.getCode() <= 0 && e.getStatus() == null && e.getCause() != null) {
      // no answer at all: say why the connection failed, not the client's "Operation: [get]"
      Throwable root = e;
      while (root.getCause() != null && root.getCause() != root) {
        root = root.getCause();
      }
      String why = root.getMessage() != null ? root.getMessage() : root.getClass().getSimpleName();
      return new K8sException(
          what
              + ": the API server did not answer ("
              + why.lines().findFirst().orElse("")
              + "); is a cluster configured and reachable (KUBECONFIG, ~/.kube/config)?",
          e);
    }
    String said =
        e.getStatus() != null && e.getStatus().getMessage() != null
            ? e.getStatus().getMessage()
            : e.getMessage();
    String code = e.getCode() > 0 ? " (HTTP " + e.getCode() + ")" : "";
    return new K8sException(
        what + ": the API server said" + code + ": " + said.lines().findFirst().orElse(""), e);
  }
}
