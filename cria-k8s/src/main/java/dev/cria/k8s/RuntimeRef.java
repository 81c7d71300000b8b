package dev.cria.k8s;

import java.util.Locale;

/**
 * A Kubeflow Trainer runtime a TrainJob refers to by name: a namespaced {@code TrainingRuntime} or
 * a cluster-wide {@code ClusterTrainingRuntime}.
 *
 * @param clusterWide whether it is a {@code ClusterTrainingRuntime}
 * @param name its name (a DNS label)
 */
public record RuntimeRef(boolean clusterWide, String name) {
  public RuntimeRef {
    if (name == null || !name.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
      throw new IllegalArgumentException(
          "--runtime: '" + name + "' is not a runtime's name (a DNS label)");
    }
  }

  /**
   * {@code NAME} or {@code trainingruntime/NAME} (in the job's namespace), or {@code
   * clustertrainingruntime/NAME}, as kubectl writes a resource and its name.
   */
  public static RuntimeRef parse(String text) {
    int slash = text.indexOf('/');
    if (slash < 0) {
      return new RuntimeRef(false, text);
    }
    String kind = text.substring(0, slash).toLowerCase(Locale.ROOT);
    String name = text.substring(slash + 1);
    return switch (kind) {
      case "trainingruntime", "trainingruntimes" -> new RuntimeRef(false, name);
      case "clustertrainingruntime", "clustertrainingruntimes" -> new RuntimeRef(true, name);
      default ->
          throw new IllegalArgumentException(
              "--runtime "
                  + text
                  + ": expected NAME, trainingruntime/NAME or clustertrainingruntime/NAME");
    };
  }

  /** The API's kind: {@code TrainingRuntime} or {@code ClusterTrainingRuntime}. */
  public String kind() {
    return clusterWide ? "ClusterTrainingRuntime" : "TrainingRuntime";
  }

  @Override
  public String toString() {
    return kind() + " " + name;
  }
}
