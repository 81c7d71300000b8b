package dev.cria.k8s;

import java.util.List;

/**
 * What the cluster says about a run's job: its conditions and its pods.
 *
 * @param kind the job's kind ({@code MPIJob}, {@code TrainJob})
 * @param job the job's name
 * @param state the newest true condition (Created, Running, Restarting, Succeeded, Failed,
 *     Suspended), or "Pending" before the operator has said anything
 * @param conditions every condition, oldest first
 * @param pods the job's pods and their phases, by name
 */
public record JobStatus(
    String kind, String job, String state, List<Condition> conditions, List<Pod> pods) {
  public JobStatus {
    conditions = List.copyOf(conditions);
    pods = List.copyOf(pods);
  }

  /** One condition of the job's status. */
  public record Condition(
      String type, String status, String reason, String message, String since) {}

  /**
   * One pod.
   *
   * @param role launcher or worker (from the operator's labels)
   * @param phase Pending, Running, Succeeded, Failed or Unknown
   * @param restarts container restarts
   */
  public record Pod(String name, String role, String phase, int restarts) {}

  /** A worker pod that runs, to read the ranks' files in, if there is one. */
  public java.util.Optional<Pod> runningWorker() {
    return pods.stream()
        .filter(p -> p.role().equals("worker") && p.phase().equals("Running"))
        .findFirst();
  }

  /** Whether the job has ended, one way or the other. */
  public boolean ended() {
    return state.equals("Succeeded") || state.equals("Failed");
  }
}
