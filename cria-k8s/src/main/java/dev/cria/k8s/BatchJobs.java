package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.DeletionPropagation;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * A run's plain Kubernetes Jobs (the prepare Jobs, {@link PrepareJob}) as {@link Cluster} sees
 * them: their state and pods in {@link JobStatus}'s words, the newest pod for the logs, deleting
 * them with their pods.
 */
final class BatchJobs {
  /** The label Kubernetes puts on a Job's pods naming the Job. */
  static final String JOB_NAME = "batch.kubernetes.io/job-name";

  /** The label Kubernetes puts on an Indexed Job's pods: their index. */
  static final String INDEX = "batch.kubernetes.io/job-completion-index";

  private final KubernetesClient client;
  private final String namespace;

  BatchJobs(KubernetesClient client, String namespace) {
    this.client = client;
    this.namespace = namespace;
  }

  /** The Job {@code name}, or null. */
  Job get(String name) {
    return client.batch().v1().jobs().inNamespace(namespace).withName(name).get();
  }

  /** Whether {@code job} has ended: Complete or Failed. */
  static boolean ended(Job job) {
    return state(job).equals("Succeeded") || state(job).equals("Failed");
  }

  /** The newest true condition in {@link JobStatus}'s words, else Running or Pending. */
  static String state(Job job) {
    String state = null;
    if (job.getStatus() != null && job.getStatus().getConditions() != null) {
      for (JobCondition c : job.getStatus().getConditions()) {
        if ("True".equals(c.getStatus())) {
          state =
              switch (c.getType()) {
                case "Complete" -> "Succeeded";
                case "FailureTarget" -> "Failed";
                default -> c.getType();
              };
        }
      }
    }
    if (state != null) {
      return state;
    }
    Integer active = job.getStatus() == null ? null : job.getStatus().getActive();
    return active != null && active > 0 ? "Running" : "Pending";
  }

  /** The Job's state, conditions and pods (an Indexed Job's as {@code part-I}). */
  JobStatus status(Job job) {
    List<JobStatus.Condition> conditions = new ArrayList<>();
    if (job.getStatus() != null && job.getStatus().getConditions() != null) {
      for (JobCondition c : job.getStatus().getConditions()) {
        conditions.add(
            new JobStatus.Condition(
                c.getType(),
                c.getStatus(),
                c.getReason() == null ? "" : c.getReason(),
                c.getMessage() == null ? "" : c.getMessage(),
                c.getLastTransitionTime() == null ? "" : c.getLastTransitionTime()));
      }
    }
    List<JobStatus.Pod> pods = new ArrayList<>();
    for (Pod p : pods(job.getMetadata().getName())) {
      Map<String, String> labels = p.getMetadata().getLabels();
      String index = labels == null ? null : labels.get(INDEX);
      int restarts =
          p.getStatus() == null || p.getStatus().getContainerStatuses() == null
              ? 0
              : p.getStatus().getContainerStatuses().stream()
                  .mapToInt(cs -> cs.getRestartCount() == null ? 0 : cs.getRestartCount())
                  .sum();
      pods.add(
          new JobStatus.Pod(
              p.getMetadata().getName(),
              index == null ? "job" : "part-" + index,
              p.getStatus() == null || p.getStatus().getPhase() == null
                  ? "Unknown"
                  : p.getStatus().getPhase(),
              restarts));
    }
    return new JobStatus("Job", job.getMetadata().getName(), state(job), conditions, pods);
  }

  /** The Job's pods, by name. */
  List<Pod> pods(String name) {
    return client.pods().inNamespace(namespace).withLabel(JOB_NAME, name).list().getItems().stream()
        .sorted(Comparator.comparing(p -> p.getMetadata().getName()))
        .toList();
  }

  /** The newest pod of the Job {@code name}, or null. */
  String newestPod(String name) {
    return pods(name).stream()
        .max(
            Comparator.comparing((Pod p) -> String.valueOf(p.getMetadata().getCreationTimestamp())))
        .map(p -> p.getMetadata().getName())
        .orElse(null);
  }

  /** Deletes the Job {@code name}, and its pods with it when {@code withPods}; what went. */
  List<String> delete(String name, boolean withPods) {
    List<String> removed = new ArrayList<>();
    List<Pod> pods = withPods ? pods(name) : List.of();
    client
        .batch()
        .v1()
        .jobs()
        .inNamespace(namespace)
        .withName(name)
        .withPropagationPolicy(DeletionPropagation.BACKGROUND)
        .delete();
    removed.add("Job " + namespace + "/" + name);
    for (Pod p : pods) {
      client.pods().inNamespace(namespace).withName(p.getMetadata().getName()).delete();
      removed.add("pod " + namespace + "/" + p.getMetadata().getName());
    }
    return removed;
  }
}
