package dev.cria.k8s;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Every rank's status file read in a running worker pod of a job, by one exec of {@code cat} over
 * the run directory (which the job's ConfigMap names): for {@code cria k8s status} when the shared
 * volume is not mounted where the user is.
 */
final class RankStatusReader {
  private final KubernetesClient client;
  private final String namespace;

  RankStatusReader(KubernetesClient client, String namespace) {
    this.client = client;
    this.namespace = namespace;
  }

  /** What separates the status files one exec prints. */
  static final String STATUS_SEPARATOR = "---cria-status---";

  /**
   * Every rank's status, read in a running worker pod of the job {@code status} describes (for a
   * user who does not mount the shared volume): the run directory comes from the job's ConfigMap.
   * Takes the status already read, so that the job and its pods are not listed twice.
   */
  List<dev.cria.core.run.RankStatus> read(JobStatus status) {
    String job = status.job();
    String runDir = runDirOf(job);
    JobStatus.Pod worker =
        status
            .runningWorker()
            .orElseThrow(() ->
                new K8sException(
                    "job "
                        + namespace
                        + "/"
                        + job
                        + " has no running worker pod to read the ranks'"
                        + " status files in"));
    String script = statusScript(runDir);
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
    try (io.fabric8.kubernetes.client.dsl.ExecWatch watch =
        client
            .pods()
            .inNamespace(namespace)
            .withName(worker.name())
            .writingOutput(out)
            .writingError(err)
            .exec("sh", "-c", script)) {
      Integer code = watch.exitCode().get(30, java.util.concurrent.TimeUnit.SECONDS);
      if (code != null && code != 0) {
        throw new K8sException(
            "pod "
                + namespace
                + "/"
                + worker.name()
                + ": reading the status"
                + " files exited "
                + code
                + ": "
                + err.toString(StandardCharsets.UTF_8).strip());
      }
    } catch (KubernetesClientException e) {
      throw apiError("pod " + namespace + "/" + worker.name(), e);
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      throw new K8sException(
          "pod "
              + namespace
              + "/"
              + worker.name()
              + ": reading the status files did not finish: "
              + e.getMessage(),
          e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new K8sException("interrupted while reading the status files");
    }
    List<dev.cria.core.run.RankStatus> ranks = new ArrayList<>();
    for (String part : out.toString(StandardCharsets.UTF_8).split(STATUS_SEPARATOR)) {
      if (!part.isBlank()) {
        try {
          ranks.add(dev.cria.core.run.StatusFiles.parse(part, worker.name() + ":" + runDir));
        } catch (java.io.IOException e) {
          throw new K8sException(e.getMessage(), e);
        }
      }
    }
    ranks.sort(Comparator.comparingInt(dev.cria.core.run.RankStatus::rank));
    return ranks;
  }

  /** The shell command that prints every rank's status file, each followed by the separator. */
  static String statusScript(String runDir) {
    if (!runDir.matches("[\\w./-]+")) {
      throw new K8sException(
          "run directory '" + runDir + "' has characters cria will not pass to" + " a shell");
    }
    return "for f in "
        + runDir
        + "/[0-9]*/status.json; do [ -f \"$f\" ] && cat \"$f\"; echo "
        + STATUS_SEPARATOR
        + "; done";
  }

  /** The run directory of {@code job}, from the config its ConfigMap holds. */
  private String runDirOf(String job) {
    io.fabric8.kubernetes.api.model.ConfigMap config =
        client.configMaps().inNamespace(namespace).withName(job + "-config").get();
    String yaml =
        config == null || config.getData() == null ? null : config.getData().get("config.yaml");
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("(?m)^run_dir: \"?([^\"\n]+)\"?$")
            .matcher(yaml == null ? "" : yaml);
    if (!m.find()) {
      throw new K8sException(
          "ConfigMap "
              + namespace
              + "/"
              + job
              + "-config holds no run_dir"
              + " (was the job submitted by cria k8s submit?)");
    }
    return m.group(1).strip();
  }

  private static K8sException apiError(String what, KubernetesClientException e) {
    return Cluster.apiError(what, e);
  }
}
