package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The pods of a run's jobs, whatever envelope carries them ({@link JobKind}): the launcher, whose
 * script waits for the workers and runs {@code mpirun ... cria worker} (or the compile checks), and
 * the workers, which run an ssh server for mpirun. Every pod mounts the shared claim and the run's
 * config; the training job's pods also mount the job secret; workers get the extended resources,
 * the node selector, the tolerations and a memory-backed {@code /dev/shm} when asked.
 */
final class PodTemplates {
  /** The workers' command: host keys made at start, so that images share none. */
  static final String SSHD = "ssh-keygen -A -q; exec /usr/sbin/sshd -De";

  /** The port the workers' ssh server listens on. */
  static final int SSH_PORT = 22;

  private PodTemplates() {}

  /**
   * The training launcher's script: wait for the workers, then {@code mpirun} on every slot, rank 0
   * listening on {@code masterHost} (the first worker's pod). Each of {@code passOn} that is set in
   * the launcher's environment is passed on to the ranks ({@code -x}): the ranks start under ssh,
   * without their pods' environment, so what an operator puts into every pod reaches them this way.
   */
  static String trainScript(ClusterJob job, String masterHost, List<String> passOn) {
    List<String> mpirun =
        new ArrayList<>(
            List.of(
                "mpirun",
                "--allow-run-as-root",
                "-np",
                Integer.toString(job.worldSize()),
                "-bind-to",
                "none",
                "-map-by",
                "slot",
                "-x",
                "CRIA_MASTER_ADDR=" + masterHost,
                "-x",
                "CRIA_MASTER_PORT=" + job.masterPort(),
                "-x",
                "CRIA_JOB_SECRET_FILE=" + Manifests.JOB_SECRET_DIR + "/secret",
                "-x",
                "CRIA_JOB_ID=" + job.namespace() + "/" + job.name(),
                "-x",
                "CRIA_WORKER_HOSTS=" + job.workers())); // ranks refuse to start all on the launcher
    for (String name : passOn) {
      mpirun.add("${" + name + ":+-x " + name + "}");
    }
    mpirun.addAll(List.of("cria", "worker", "--config", Manifests.CONFIG_DIR + "/config.yaml"));
    return "cria k8s wait-workers --timeout "
        + Manifests.WORKER_WAIT_SECONDS
        + " && exec "
        + String.join(" ", mpirun);
  }

  /** The compile launcher's script: {@code cria compile} for the training job's workers. */
  static String compileScript(ClusterJob job) {
    return "cria compile --workers "
        + job.workers()
        + " --procs-per-worker "
        + job.procsPerWorker()
        + " --config "
        + Manifests.CONFIG_DIR
        + "/config.yaml";
  }

  /**
   * The launcher's pod: its container {@code container} runs {@code script}; with {@code checks}
   * (the compile job, whose checks run in the launcher) it gets a worker's node selector,
   * tolerations, CPU and memory, so that the checks run on the training job's kind of node.
   */
  static PodSpec launcher(
      ClusterJob job, String container, String script, boolean checks, boolean secret) {
    ContainerBuilder c =
        container(job, container, false, secret).withCommand("/bin/sh", "-c", script);
    PodSpecBuilder pod = new PodSpecBuilder();
    if (checks) {
      c.withResources(resources(job, false));
      pod.withNodeSelector(nodeSelector(job)).withTolerations(tolerations(job));
    }
    return pod.withContainers(c.build()).withVolumes(volumes(job, false, secret)).build();
  }

  /**
   * A worker's pod: an ssh server in its container {@code container}, with the extended resources,
   * and (when {@code readiness}) a probe on the ssh port, for envelopes that start the launcher
   * once the workers are ready.
   */
  static PodSpec worker(ClusterJob job, String container, boolean secret, boolean readiness) {
    ContainerBuilder c =
        container(job, container, true, secret)
            .withCommand("/bin/sh", "-c", SSHD)
            .withResources(resources(job, true));
    if (readiness) {
      c.withNewReadinessProbe()
          .withNewTcpSocket()
          .withNewPort(SSH_PORT)
          .endTcpSocket()
          .withPeriodSeconds(2)
          .endReadinessProbe();
    }
    return new PodSpecBuilder()
        .withContainers(c.build())
        .withVolumes(volumes(job, true, secret))
        .withNodeSelector(nodeSelector(job))
        .withTolerations(tolerations(job))
        .build();
  }

  /** A pod template as plain data: the run's labels (plus {@code extraLabels}) and {@code spec}. */
  static Map<String, Object> template(
      ClusterJob job, Map<String, String> extraLabels, PodSpec spec) {
    return template(job.labels(), extraLabels, spec);
  }

  /** A pod template as plain data: {@code labels} plus {@code extraLabels}, and {@code spec}. */
  static Map<String, Object> template(
      Map<String, String> labels, Map<String, String> extraLabels, PodSpec spec) {
    Map<String, String> all = new LinkedHashMap<>(labels);
    all.putAll(extraLabels);
    Map<String, Object> template = new LinkedHashMap<>();
    template.put("metadata", Map.of("labels", all));
    template.put("spec", Serialization.jsonMapper().convertValue(spec, Map.class));
    return template;
  }

  /**
   * Each worker's requests and limits: {@code --cpu}, {@code --memory} and (with {@code extended})
   * the named resources such as GPUs, Neuron devices or EFA interfaces.
   */
  static ResourceRequirements resources(ClusterJob job, boolean extended) {
    return resources(extended ? job.resources() : Map.of(), job.cpu(), job.memory());
  }

  /** Requests equal to limits: the {@code extended} resources, {@code cpu} and {@code memory}. */
  static ResourceRequirements resources(Map<String, String> extended, String cpu, String memory) {
    ResourceRequirementsBuilder resources = new ResourceRequirementsBuilder();
    Map<String, Quantity> amounts = new TreeMap<>();
    extended.forEach((k, v) -> amounts.put(k, new Quantity(v)));
    if (cpu != null) {
      amounts.put("cpu", new Quantity(cpu));
    }
    if (memory != null) {
      amounts.put("memory", new Quantity(memory));
    }
    if (!amounts.isEmpty()) {
      resources.withLimits(amounts).withRequests(amounts);
    }
    return resources.build();
  }

  private static Map<String, String> nodeSelector(ClusterJob job) {
    return job.nodeSelector().isEmpty() ? null : new TreeMap<>(job.nodeSelector());
  }

  private static List<Toleration> tolerations(ClusterJob job) {
    return job.tolerations().isEmpty() ? null : tolerations(job.tolerations());
  }

  private static ContainerBuilder container(
      ClusterJob job, String name, boolean worker, boolean secret) {
    List<VolumeMount> mounts = new ArrayList<>();
    mounts.add(
        new VolumeMountBuilder().withName("shared").withMountPath(job.sharedMount()).build());
    mounts.add(
        new VolumeMountBuilder().withName("config").withMountPath(Manifests.CONFIG_DIR).build());
    if (worker && job.shmSize() != null) {
      mounts.add(new VolumeMountBuilder().withName("dshm").withMountPath("/dev/shm").build());
    }
    if (secret) {
      mounts.add(
          new VolumeMountBuilder()
              .withName("job-secret")
              .withMountPath(Manifests.JOB_SECRET_DIR)
              .withReadOnly(true)
              .build());
    }
    return new ContainerBuilder().withName(name).withImage(job.image()).withVolumeMounts(mounts);
  }

  private static List<Volume> volumes(ClusterJob job, boolean worker, boolean secret) {
    List<Volume> volumes = new ArrayList<>();
    volumes.add(
        new VolumeBuilder()
            .withName("shared")
            .withNewPersistentVolumeClaim()
            .withClaimName(job.sharedPvc())
            .endPersistentVolumeClaim()
            .build());
    volumes.add(
        new VolumeBuilder()
            .withName("config")
            .withNewConfigMap()
            .withName(job.name() + "-config")
            .endConfigMap()
            .build());
    if (worker && job.shmSize() != null) {
      volumes.add(
          new VolumeBuilder()
              .withName("dshm")
              .withNewEmptyDir()
              .withMedium("Memory")
              .withSizeLimit(new Quantity(job.shmSize()))
              .endEmptyDir()
              .build());
    }
    if (secret) {
      volumes.add(
          new VolumeBuilder()
              .withName("job-secret")
              .withNewSecret()
              .withSecretName(Manifests.jobSecretName(job))
              .withDefaultMode(0400)
              .endSecret()
              .build());
    }
    return volumes;
  }

  /** {@code key[=value]:effect}, or {@code key} alone (any value, any effect). */
  static List<Toleration> tolerations(List<String> specs) {
    List<Toleration> out = new ArrayList<>();
    for (String spec : specs) {
      String effect = null;
      String keyValue = spec;
      int colon = spec.lastIndexOf(':');
      if (colon > 0) {
        effect = spec.substring(colon + 1);
        keyValue = spec.substring(0, colon);
        if (!List.of("NoSchedule", "PreferNoSchedule", "NoExecute").contains(effect)) {
          throw new IllegalArgumentException(
              "--toleration "
                  + spec
                  + ": the effect must be NoSchedule, PreferNoSchedule or"
                  + " NoExecute");
        }
      }
      int eq = keyValue.indexOf('=');
      String key = eq > 0 ? keyValue.substring(0, eq) : keyValue;
      if (!ClusterJob.labelKey(key)) {
        throw new IllegalArgumentException(
            "--toleration "
                + spec
                + ": '"
                + key
                + "' is not a taint key such as nvidia.com/gpu (KEY[=VALUE][:EFFECT])");
      }
      TolerationBuilder t = new TolerationBuilder().withEffect(effect);
      if (eq > 0) {
        t.withKey(keyValue.substring(0, eq))
            .withOperator("Equal")
            .withValue(keyValue.substring(eq + 1));
      } else {
        t.withKey(keyValue).withOperator("Exists");
      }
      out.add(t.build());
    }
    return out;
  }
}
