package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.util.List;
import java.util.Map;

/**
 * Why Kueue holds a job back: the job's {@code Workload} ({@code kueue.x-k8s.io/v1beta1}, found by
 * the label {@code kueue.x-k8s.io/job-uid} Kueue puts on it) and its conditions, {@code
 * QuotaReserved} false with Kueue's reason ("couldn't assign flavors to pod set ...: insufficient
 * quota ...") while it waits.
 */
final class KueueWorkloads {
  /** Kueue's Workload resource. */
  static final ResourceDefinitionContext WORKLOADS =
      new ResourceDefinitionContext.Builder()
          .withGroup("kueue.x-k8s.io")
          .withVersion("v1beta1")
          .withKind("Workload")
          .withPlural("workloads")
          .withNamespaced(true)
          .build();

  /** The label on a Workload naming its job's UID. */
  static final String JOB_UID = "kueue.x-k8s.io/job-uid";

  private final KubernetesClient client;
  private final String namespace;

  KueueWorkloads(KubernetesClient client, String namespace) {
    this.client = client;
    this.namespace = namespace;
  }

  /** What Kueue says about the job with UID {@code uid} in LocalQueue {@code queue}: one line. */
  String why(String queue, String uid) {
    List<GenericKubernetesResource> workloads;
    try {
      workloads =
          client
              .genericKubernetesResources(WORKLOADS)
              .inNamespace(namespace)
              .withLabel(JOB_UID, uid)
              .list()
              .getItems();
    } catch (KubernetesClientException e) {
      if (e.getCode() == 404) {
        return "queued for LocalQueue "
            + queue
            + ", but the cluster serves no Kueue Workloads: is Kueue installed?";
      }
      throw e;
    }
    if (workloads.isEmpty()) {
      return "queued for LocalQueue "
          + queue
          + ": Kueue has made no Workload for it yet (is the LocalQueue there?)";
    }
    GenericKubernetesResource w = workloads.getFirst();
    String reserved = null;
    boolean admitted = false;
    Object status = w.getAdditionalProperties().get("status");
    if (status instanceof Map<?, ?> s && s.get("conditions") instanceof List<?> conditions) {
      for (Object o : conditions) {
        if (o instanceof Map<?, ?> c) {
          if ("Admitted".equals(c.get("type")) && "True".equals(c.get("status"))) {
            admitted = true;
          }
          if ("QuotaReserved".equals(c.get("type")) && "False".equals(c.get("status"))) {
            reserved = String.valueOf(c.get("message"));
          }
        }
      }
    }
    String name = w.getMetadata().getName();
    if (admitted) {
      return "admitted by Kueue (Workload " + name + "): its pods start";
    }
    return "queued in LocalQueue "
        + queue
        + " (Workload "
        + name
        + "): "
        + (reserved != null ? reserved : "waiting for quota");
  }
}
