package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A Kubeflow Trainer MPI runtime that many runs share ({@code cria k8s submit train --kind trainjob
 * --runtime NAME}): cria's image in the {@code node} pods (an ssh server, with the nodes'
 * resources, node selector and tolerations) and in the {@code launcher}, and nothing of any run.
 * Each run's TrainJob sets the launcher's command and patches in its volumes (the shared claim, its
 * config, its job secret) and placement. An administrator installs a cluster-wide one ({@code cria
 * k8s render runtime --cluster-wide | kubectl apply -f -}); {@code submit} makes a missing
 * namespaced one from the job's image.
 *
 * @param ref its kind and name
 * @param namespace where a namespaced one lives (ignored for a cluster-wide one)
 * @param image cria's image
 * @param procsPerNode MPI slots per node unless the TrainJob says otherwise
 * @param resources extended resources of each node ({@code nvidia.com/gpu=8})
 * @param cpu each node's CPU, or null
 * @param memory each node's memory, or null
 * @param nodeSelector labels a node's Kubernetes node must have
 * @param tolerations taints the nodes tolerate ({@code key[=value]:effect})
 * @param maxRestarts JobSet's restarts of a failed job (each resumes its run)
 */
public record SharedRuntime(
    RuntimeRef ref,
    String namespace,
    String image,
    int procsPerNode,
    Map<String, String> resources,
    String cpu,
    String memory,
    Map<String, String> nodeSelector,
    List<String> tolerations,
    int maxRestarts) {

  /** What the launcher does when a TrainJob names the runtime without setting its command. */
  static final String LAUNCHER_WITHOUT_COMMAND =
      "echo 'this runtime runs cria: submit with cria k8s submit train --kind trainjob --runtime"
          + " NAME, which sets the launcher command' >&2; exit 64";

  public SharedRuntime {
    ClusterJob.requireImage("--image", image);
    if (procsPerNode < 1) {
      throw new IllegalArgumentException("--procs-per-worker must be at least 1");
    }
    if (maxRestarts < 0) {
      throw new IllegalArgumentException("--backoff-limit must be zero or more");
    }
    ClusterJob.requireResources(resources);
    ClusterJob.requirePlacement(cpu, memory, nodeSelector, tolerations);
    resources = Map.copyOf(resources);
    nodeSelector = Map.copyOf(nodeSelector);
    tolerations = List.copyOf(tolerations);
  }

  /** A namespaced one as {@code submit} makes it when missing: the job's image and slots. */
  static SharedRuntime forJob(RuntimeRef ref, ClusterJob job) {
    return new SharedRuntime(
        ref,
        job.namespace(),
        job.image(),
        job.procsPerWorker(),
        Map.of(),
        null,
        null,
        Map.of(),
        List.of(),
        job.backoffLimit());
  }

  /** The runtime object, labelled as cria's (no run's). */
  public GenericKubernetesResource toResource() {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put(ClusterJob.MANAGED_BY, "cria");
    PodSpec node =
        new PodSpecBuilder()
            .withContainers(
                new ContainerBuilder()
                    .withName("node")
                    .withImage(image)
                    .withCommand("/bin/sh", "-c", PodTemplates.SSHD)
                    .withResources(PodTemplates.resources(resources, cpu, memory))
                    .withNewReadinessProbe()
                    .withNewTcpSocket()
                    .withNewPort(PodTemplates.SSH_PORT)
                    .endTcpSocket()
                    .withPeriodSeconds(2)
                    .endReadinessProbe()
                    .build())
            .withNodeSelector(nodeSelector.isEmpty() ? null : new TreeMap<>(nodeSelector))
            .withTolerations(tolerations.isEmpty() ? null : PodTemplates.tolerations(tolerations))
            .build();
    PodSpec launcher =
        new PodSpecBuilder()
            .withContainers(
                new ContainerBuilder()
                    .withName("node")
                    .withImage(image)
                    .withCommand("/bin/sh", "-c", LAUNCHER_WITHOUT_COMMAND)
                    .build())
            .build();
    Map<String, Object> spec =
        TrainJobKind.runtimeSpec(
            1,
            procsPerNode,
            maxRestarts,
            PodTemplates.template(labels, Map.of(), node),
            PodTemplates.template(labels, Map.of(TrainJobKind.ANCESTOR, "trainer"), launcher),
            labels,
            List.of());
    ObjectMetaBuilder meta = new ObjectMetaBuilder().withName(ref.name()).withLabels(labels);
    if (!ref.clusterWide()) {
      meta.withNamespace(namespace);
    }
    return new GenericKubernetesResourceBuilder()
        .withApiVersion(TrainJobKind.API)
        .withKind(ref.kind())
        .withMetadata(meta.build())
        .withAdditionalProperties(Map.of("spec", spec))
        .build();
  }
}
