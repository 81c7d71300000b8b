package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;

/**
 * Finding a run's job on a cluster whatever its {@link JobKind}: which kinds the API server serves
 * (discovery), and the job of a name of whichever kind exists (a kind the cluster does not serve
 * answers 404 and is passed over).
 */
final class JobLookup {
  private final KubernetesClient client;
  private final String namespace;

  JobLookup(KubernetesClient client, String namespace) {
    this.client = client;
    this.namespace = namespace;
  }

  /**
   * The kind of job the cluster runs: an MPIJob when the MPI Operator's resource is served, else a
   * TrainJob when Trainer v2's is, else an MPIJob (whose submission then names what is missing).
   */
  JobKind servedKind() {
    for (JobKind k : JobKind.all()) {
      if (serves(k.resource())) {
        return k;
      }
    }
    return JobKind.MPIJOB;
  }

  private boolean serves(ResourceDefinitionContext r) {
    try {
      var list = client.getApiResources(r.getGroup() + "/" + r.getVersion());
      return list != null
          && list.getResources().stream().anyMatch(a -> a.getName().equals(r.getPlural()));
    } catch (KubernetesClientException e) {
      return false;
    }
  }

  /** The kind and the job named {@code name}, of whichever kind exists, or null. */
  Found find(String name) {
    for (JobKind k : JobKind.all()) {
      GenericKubernetesResource r;
      try {
        r =
            client
                .genericKubernetesResources(k.resource())
                .inNamespace(namespace)
                .withName(name)
                .get();
      } catch (KubernetesClientException e) {
        if (e.getCode() == 404) {
          continue; // the cluster does not serve this kind
        }
        throw apiError(k.kind() + " " + namespace + "/" + name, e);
      }
      if (r != null) {
        return new Found(k, r);
      }
    }
    return null;
  }

  /** A job found on the cluster, and its kind. */
  record Found(JobKind kind, GenericKubernetesResource job) {}

  /** What to say when no job of any kind has the name {@code name}. */
  String noJob(String name) {
    return "no "
        + String.join(" or ", JobKind.all().stream().map(JobKind::kind).toList())
        + " "
        + namespace
        + "/"
        + name
        + " exists";
  }

  private static K8sException apiError(String what, KubernetesClientException e) {
    return Cluster.apiError(what, e);
  }
}
