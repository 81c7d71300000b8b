package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.ArrayList;
import java.util.List;

/**
 * Before a TrainJob on a shared runtime is submitted: the runtime must be there. A missing
 * namespaced one is made ({@link SharedRuntime#forJob}); a missing cluster-wide one is refused with
 * the command that makes it (an administrator's, since it is cluster-scoped). One that is there is
 * used as it is, never changed; a node image other than the job's is said.
 */
final class SharedRuntimes {
  private static final ResourceDefinitionContext CLUSTER_RUNTIMES =
      new ResourceDefinitionContext.Builder()
          .withGroup("trainer.kubeflow.org")
          .withVersion("v1alpha1")
          .withKind("ClusterTrainingRuntime")
          .withPlural("clustertrainingruntimes")
          .withNamespaced(false)
          .build();

  private final KubernetesClient client;
  private final String namespace;

  SharedRuntimes(KubernetesClient client, String namespace) {
    this.client = client;
    this.namespace = namespace;
  }

  /** Makes sure {@code ref} exists for {@code job}; a line per thing done or noticed. */
  List<String> ensure(RuntimeRef ref, ClusterJob job) {
    List<String> lines = new ArrayList<>();
    GenericKubernetesResource existing;
    try {
      existing =
          ref.clusterWide()
              ? client.genericKubernetesResources(CLUSTER_RUNTIMES).withName(ref.name()).get()
              : client
                  .genericKubernetesResources(TrainJobKind.RUNTIMES)
                  .inNamespace(namespace)
                  .withName(ref.name())
                  .get();
    } catch (KubernetesClientException e) {
      throw new K8sException(
          "cannot read "
              + ref
              + ": "
              + (e.getCode() == 404
                  ? "this cluster does not serve Kubeflow Trainer v2's runtimes"
                  : e.getMessage()));
    }
    if (existing == null && ref.clusterWide()) {
      throw new K8sException(
          "there is no "
              + ref
              + " on this cluster: an administrator installs it with cria k8s render runtime"
              + " --name "
              + ref.name()
              + " --cluster-wide --image "
              + job.image()
              + " | kubectl apply -f -");
    }
    if (existing == null) {
      GenericKubernetesResource made = SharedRuntime.forJob(ref, job).toResource();
      client
          .genericKubernetesResources(TrainJobKind.RUNTIMES)
          .inNamespace(namespace)
          .resource(made)
          .create();
      lines.add(
          "TrainingRuntime "
              + namespace
              + "/"
              + ref.name()
              + " created (shared by the TrainJobs that name it; stop and cleanup of a run"
              + " leave it)");
      return lines;
    }
    String image = nodeImage(existing);
    if (image != null && !image.equals(job.image())) {
      lines.add(
          "note: "
              + ref
              + " runs "
              + image
              + " on its nodes; the launcher runs --image "
              + job.image());
    }
    lines.add(ref + " used as it is");
    return lines;
  }

  /** The image of the {@code node} replicated job's {@code node} container, if it says. */
  private static String nodeImage(GenericKubernetesResource runtime) {
    var tree = Serialization.jsonMapper().valueToTree(runtime);
    for (var r : tree.at("/spec/template/spec/replicatedJobs")) {
      if (r.path("name").asText().equals("node")) {
        for (var c : r.at("/template/spec/template/spec/containers")) {
          if (c.path("name").asText().equals("node") && c.path("image").isTextual()) {
            return c.path("image").asText();
          }
        }
      }
    }
    return null; // a runtime of another shape: nothing to compare
  }
}
