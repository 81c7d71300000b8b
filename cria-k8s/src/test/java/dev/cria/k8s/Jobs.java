package dev.cria.k8s;

import java.util.List;
import java.util.Map;

/** The jobs the tests render: a small one and one shaped as the blueprint's. */
final class Jobs {
  private Jobs() {}

  /** Two CPU workers, one process each, no extended resources. */
  static ClusterJob small() {
    return new ClusterJob(
        "brown-tiny",
        "default",
        "registry.local/cria:0.1.0",
        2,
        1,
        Map.of(),
        "2",
        "8Gi",
        "shared",
        "/shared",
        null,
        Map.of(),
        List.of(),
        20,
        29500,
        null);
  }

  /**
   * The blueprint's: four workers, each with 16 Neuron devices and 8 EFA interfaces, 32 processes a
   * worker, the FSx claim at /shared, a memory-backed /dev/shm.
   */
  static ClusterJob blueprint() {
    return new ClusterJob(
        "test-mpi-train",
        "default",
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/cria:0.1.0",
        4,
        32,
        new java.util.TreeMap<>(
            Map.of("aws.amazon.com/neuron", "16", "vpc.amazonaws.com/efa", "8")),
        null,
        null,
        "fsx-claim",
        "/shared",
        "64Gi",
        Map.of("node.kubernetes.io/instance-type", "trn1.32xlarge"),
        List.of("aws.amazon.com/neuron:NoSchedule"),
        20,
        29500,
        null);
  }

  /** A resolved config as cria writes it (the ConfigMap's content). */
  static final String CONFIG =
      """
      run_dir: /shared/cria/runs/brown-tiny
      model:
        preset: tiny
      data:
        data_prefix:
        - /shared/data/brown_text_document
      """;

  /** {@code s} with another name and queue. */
  static ClusterJob renamed(ClusterJob s, String name, String queue) {
    return new ClusterJob(
        name,
        s.namespace(),
        s.image(),
        s.workers(),
        s.procsPerWorker(),
        s.resources(),
        s.cpu(),
        s.memory(),
        s.sharedPvc(),
        s.sharedMount(),
        s.shmSize(),
        s.nodeSelector(),
        s.tolerations(),
        s.backoffLimit(),
        s.masterPort(),
        queue);
  }
}
