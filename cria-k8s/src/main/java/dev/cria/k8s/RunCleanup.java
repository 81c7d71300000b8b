package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Deleting what cria made for a run, and nothing else: every object of every kind that carries
 * {@code app.kubernetes.io/managed-by: cria} (and the run's label).
 */
final class RunCleanup {
  private final KubernetesClient client;
  private final String namespace;

  RunCleanup(KubernetesClient client, String namespace) {
    this.client = client;
    this.namespace = namespace;
  }

  List<String> cleanup(String job) {
    List<String> removed = new ArrayList<>();
    Map<String, String> labels =
        job == null
            ? Map.of(ClusterJob.MANAGED_BY, "cria")
            : Map.of(ClusterJob.MANAGED_BY, "cria", ClusterJob.RUN, job);
    try {
      for (JobKind k : JobKind.all()) {
        List<ResourceDefinitionContext> all = new ArrayList<>();
        all.add(k.resource());
        all.addAll(k.companions());
        for (ResourceDefinitionContext c : all) {
          List<GenericKubernetesResource> items;
          try {
            items =
                client
                    .genericKubernetesResources(c)
                    .inNamespace(namespace)
                    .withLabels(labels)
                    .list()
                    .getItems();
          } catch (KubernetesClientException e) {
            if (e.getCode() == 404) {
              continue; // the cluster does not serve this kind
            }
            throw e;
          }
          for (GenericKubernetesResource r : items) {
            client
                .genericKubernetesResources(c)
                .inNamespace(namespace)
                .withName(r.getMetadata().getName())
                .delete();
            removed.add(c.getKind() + " " + namespace + "/" + r.getMetadata().getName());
          }
        }
      }
      for (var j :
          client.batch().v1().jobs().inNamespace(namespace).withLabels(labels).list().getItems()) {
        removed.addAll(
            new BatchJobs(client, namespace)
                .delete(j.getMetadata().getName(), false)); // pods: below
      }
      collect(
          removed,
          "Deployment",
          client.apps().deployments().inNamespace(namespace).withLabels(labels).list().getItems());
      collect(
          removed,
          "Service",
          client.services().inNamespace(namespace).withLabels(labels).list().getItems());
      collect(
          removed,
          "ConfigMap",
          client.configMaps().inNamespace(namespace).withLabels(labels).list().getItems());
      collect(
          removed,
          "Secret",
          client.secrets().inNamespace(namespace).withLabels(labels).list().getItems());
      Map<String, String> podLabels = job == null ? Map.of() : Map.of(ClusterJob.RUN, job);
      List<Pod> pods =
          client.pods().inNamespace(namespace).withLabels(podLabels).list().getItems().stream()
              .filter(p ->
                  p.getMetadata().getLabels() != null
                      && p.getMetadata().getLabels().containsKey(ClusterJob.RUN))
              .toList();
      collect(removed, "pod", pods);
    } catch (KubernetesClientException e) {
      throw apiError("the objects of " + (job == null ? "every cria run" : job), e);
    }
    return removed;
  }

  private void collect(List<String> removed, String kind, List<? extends HasMetadata> objects) {
    for (HasMetadata o : objects) {
      client.resource(o).inNamespace(namespace).delete();
      removed.add(kind + " " + namespace + "/" + o.getMetadata().getName());
    }
  }

  private static K8sException apiError(String what, KubernetesClientException e) {
    return Cluster.apiError(what, e);
  }
}
