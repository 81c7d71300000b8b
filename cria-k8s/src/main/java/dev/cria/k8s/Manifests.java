package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The objects of a run on Kubernetes, as {@code cria k8s render} prints them and {@code cria k8s
 * submit} applies them: a ConfigMap with the run's resolved config, the training MPIJob ({@code
 * kubeflow.org/v2beta1}: a launcher that waits for its workers and runs {@code mpirun ... cria
 * worker}, workers running sshd), the compile MPIJob (the checks, the tuned kernels and the index
 * cache, before the cluster is busy), and the board (a Deployment and a Service; its password's
 * Secret is made at submission and never printed).
 */
public final class Manifests {
  /** The MPIJob's API version and kind. */
  public static final String MPIJOB_API = "kubeflow.org/v2beta1";

  public static final String MPIJOB_KIND = "MPIJob";

  /** Where the run's config is mounted in every pod. */
  public static final String CONFIG_DIR = "/etc/cria";

  /** Where the board's password is mounted. */
  public static final String BOARD_SECRET_DIR = "/etc/cria-board";

  /**
   * Where the job secret is mounted in the training job's pods: its ranks prove it to each other
   * before they join ({@code CRIA_JOB_SECRET_FILE}).
   */
  public static final String JOB_SECRET_DIR = "/etc/cria-job";

  /** The board's port. */
  public static final int BOARD_PORT = 6006;

  /** The board's user. */
  public static final String BOARD_USER = "admin";

  /** How long the launcher waits for its workers' ssh servers. */
  public static final int WORKER_WAIT_SECONDS = 600;

  private Manifests() {}

  /** The ConfigMap holding the run's resolved {@code config.yaml}. */
  public static ConfigMap config(ClusterJob job, String configYaml) {
    return new ConfigMapBuilder()
        .withMetadata(meta(job, job.name() + "-config"))
        .withData(Map.of("config.yaml", configYaml))
        .build();
  }

  /**
   * The training MPIJob: {@code mpirun} on the launcher starts {@code cria worker} on every slot;
   * the ranks come from Open MPI's environment, rank 0 listens on worker 0.
   */
  public static GenericKubernetesResource train(ClusterJob job) {
    List<String> mpirun = new ArrayList<>();
    mpirun.addAll(
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
            "CRIA_MASTER_ADDR=" + job.masterHost(),
            "-x",
            "CRIA_MASTER_PORT=" + job.masterPort(),
            "-x",
            "CRIA_JOB_SECRET_FILE=" + JOB_SECRET_DIR + "/secret",
            "-x",
            "CRIA_JOB_ID=" + job.namespace() + "/" + job.name(),
            "-x",
            "CRIA_WORKER_HOSTS=" + job.workers(), // ranks refuse to start all on the launcher
            "cria",
            "worker",
            "--config",
            CONFIG_DIR + "/config.yaml"));
    String launch =
        "cria k8s wait-workers --timeout "
            + WORKER_WAIT_SECONDS
            + " && exec "
            + String.join(" ", mpirun);
    return mpiJob(job, job.name(), job.workers(), launch, false, true);
  }

  /**
   * The compile MPIJob: on the cluster, before any work, the launcher runs {@code cria compile} for
   * the training job's workers: the memory plan of a rank (refused, with the table, when it will
   * not fit in a worker's share), the kernels tuned for a rank's share of a worker's cores in the
   * compile cache beside the runs, the config, the tokenizer and the data, and the sample index
   * cache, all on the shared volume. The launcher gets the workers' node selector, tolerations, CPU
   * and memory, so that the checks run on the training job's kind of node; one worker, as the
   * operator needs one.
   */
  public static GenericKubernetesResource compile(ClusterJob job) {
    String check =
        "cria compile --workers "
            + job.workers()
            + " --procs-per-worker "
            + job.procsPerWorker()
            + " --config "
            + CONFIG_DIR
            + "/config.yaml";
    return mpiJob(job, job.name() + "-compile", 1, check, true, false);
  }

  private static GenericKubernetesResource mpiJob(
      ClusterJob job,
      String name,
      int workers,
      String launcherScript,
      boolean checks,
      boolean secret) {
    ContainerBuilder launcherContainer =
        container(job, "launcher", secret).withCommand("/bin/sh", "-c", launcherScript);
    PodSpecBuilder launcherPod = new PodSpecBuilder();
    if (checks) { // the checks run in the launcher: on a worker's kind of node, with its memory
      launcherContainer.withResources(resources(job, false));
      launcherPod
          .withNodeSelector(job.nodeSelector().isEmpty() ? null : new TreeMap<>(job.nodeSelector()))
          .withTolerations(job.tolerations().isEmpty() ? null : tolerations(job.tolerations()));
    }
    Map<String, Object> launcher = new LinkedHashMap<>();
    launcher.put("replicas", 1);
    launcher.put(
        "template",
        template(
            job,
            launcherPod
                .withContainers(launcherContainer.build())
                .withVolumes(volumes(job, false, secret))
                .build()));
    Map<String, Object> worker = new LinkedHashMap<>();
    worker.put("replicas", workers);
    worker.put("template", template(job, workerPod(job, secret)));
    Map<String, Object> replicas = new LinkedHashMap<>();
    replicas.put("Launcher", launcher);
    replicas.put("Worker", worker);
    Map<String, Object> runPolicy = new LinkedHashMap<>();
    runPolicy.put("cleanPodPolicy", "Running");
    runPolicy.put("backoffLimit", job.backoffLimit());
    Map<String, Object> spec = new LinkedHashMap<>();
    spec.put("slotsPerWorker", job.procsPerWorker());
    spec.put("launcherCreationPolicy", "WaitForWorkersReady");
    spec.put("mpiImplementation", "OpenMPI");
    spec.put("runPolicy", runPolicy);
    spec.put("mpiReplicaSpecs", replicas);
    return new GenericKubernetesResourceBuilder()
        .withApiVersion(MPIJOB_API)
        .withKind(MPIJOB_KIND)
        .withMetadata(meta(job, name))
        .withAdditionalProperties(Map.of("spec", spec))
        .build();
  }

  /**
   * Each worker's requests and limits: {@code --cpu}, {@code --memory} and (with {@code extended})
   * the named resources such as GPUs, Neuron devices or EFA interfaces.
   */
  private static io.fabric8.kubernetes.api.model.ResourceRequirements resources(
      ClusterJob job, boolean extended) {
    ResourceRequirementsBuilder resources = new ResourceRequirementsBuilder();
    Map<String, Quantity> amounts = new TreeMap<>();
    if (extended) {
      job.resources().forEach((k, v) -> amounts.put(k, new Quantity(v)));
    }
    if (job.cpu() != null) {
      amounts.put("cpu", new Quantity(job.cpu()));
    }
    if (job.memory() != null) {
      amounts.put("memory", new Quantity(job.memory()));
    }
    if (!amounts.isEmpty()) {
      resources.withLimits(amounts).withRequests(amounts);
    }
    return resources.build();
  }

  private static PodSpec workerPod(ClusterJob job, boolean secret) {
    return new PodSpecBuilder()
        .withContainers(
            container(job, "worker", secret)
                // host keys are made at start, so that images share none (the operator mounts
                // the job's client keys in /root/.ssh)
                .withCommand("/bin/sh", "-c", "ssh-keygen -A -q; exec /usr/sbin/sshd -De")
                .withResources(resources(job, true))
                .build())
        .withVolumes(volumes(job, true, secret))
        .withNodeSelector(job.nodeSelector().isEmpty() ? null : new TreeMap<>(job.nodeSelector()))
        .withTolerations(job.tolerations().isEmpty() ? null : tolerations(job.tolerations()))
        .build();
  }

  private static ContainerBuilder container(ClusterJob job, String name, boolean secret) {
    List<VolumeMount> mounts = new ArrayList<>();
    mounts.add(
        new VolumeMountBuilder().withName("shared").withMountPath(job.sharedMount()).build());
    mounts.add(new VolumeMountBuilder().withName("config").withMountPath(CONFIG_DIR).build());
    if (name.equals("worker") && job.shmSize() != null) {
      mounts.add(new VolumeMountBuilder().withName("dshm").withMountPath("/dev/shm").build());
    }
    if (secret) {
      mounts.add(
          new VolumeMountBuilder()
              .withName("job-secret")
              .withMountPath(JOB_SECRET_DIR)
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
              .withSecretName(jobSecretName(job))
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

  private static Map<String, Object> template(ClusterJob job, PodSpec spec) {
    Map<String, Object> template = new LinkedHashMap<>();
    template.put("metadata", Map.of("labels", job.labels()));
    template.put("spec", Serialization.jsonMapper().convertValue(spec, Map.class));
    return template;
  }

  /**
   * The board: a Deployment running {@code cria board} over the shared runs and its Service
   * (cluster internal; reach it with {@code kubectl port-forward}). Its password comes from the
   * Secret {@link #boardSecret} makes, which {@code cria k8s submit} creates and no manifest shows.
   */
  public static List<HasMetadata> board(ClusterJob job) {
    String name = boardName(job);
    Map<String, String> selector = new LinkedHashMap<>(job.labels());
    selector.put("app.kubernetes.io/component", "board");
    Container board =
        new ContainerBuilder()
            .withName("board")
            .withImage(job.image())
            .withCommand(
                "cria",
                "board",
                "--logdir",
                job.sharedMount().replaceAll("/+$", "") + "/cria/runs",
                "--host",
                "0.0.0.0",
                "--port",
                Integer.toString(BOARD_PORT),
                "--user",
                BOARD_USER,
                "--password-file",
                BOARD_SECRET_DIR + "/password")
            .addNewPort()
            .withName("http")
            .withContainerPort(BOARD_PORT)
            .endPort()
            .withVolumeMounts(
                new VolumeMountBuilder()
                    .withName("shared")
                    .withMountPath(job.sharedMount())
                    .withReadOnly(true)
                    .build(),
                new VolumeMountBuilder()
                    .withName("password")
                    .withMountPath(BOARD_SECRET_DIR)
                    .withReadOnly(true)
                    .build())
            .build();
    Deployment deployment =
        new DeploymentBuilder()
            .withMetadata(meta(job, name))
            .withNewSpec()
            .withReplicas(1)
            .withNewSelector()
            .withMatchLabels(selector)
            .endSelector()
            .withNewTemplate()
            .withNewMetadata()
            .withLabels(selector)
            .endMetadata()
            .withNewSpec()
            .withContainers(board)
            .withVolumes(
                new VolumeBuilder()
                    .withName("shared")
                    .withNewPersistentVolumeClaim()
                    .withClaimName(job.sharedPvc())
                    .withReadOnly(true)
                    .endPersistentVolumeClaim()
                    .build(),
                new VolumeBuilder()
                    .withName("password")
                    .withNewSecret()
                    .withSecretName(name)
                    .endSecret()
                    .build())
            .endSpec()
            .endTemplate()
            .endSpec()
            .build();
    Service service =
        new ServiceBuilder()
            .withMetadata(meta(job, name))
            .withNewSpec()
            .withSelector(selector)
            .addNewPort()
            .withName("http")
            .withPort(BOARD_PORT)
            .withNewTargetPort("http")
            .endPort()
            .endSpec()
            .build();
    return List.of(deployment, service);
  }

  /** The board's objects' name. */
  public static String boardName(ClusterJob job) {
    return job.name() + "-board";
  }

  /** The Secret holding the board's password (key {@code password}). */
  public static Secret boardSecret(ClusterJob job, String password) {
    return new SecretBuilder()
        .withMetadata(meta(job, boardName(job)))
        .withType("Opaque")
        .withStringData(Map.of("password", password))
        .build();
  }

  /** The name of the job secret's Secret. */
  public static String jobSecretName(ClusterJob job) {
    return job.name() + "-job";
  }

  /** The Secret holding the job secret (key {@code secret}) its ranks prove to each other. */
  public static Secret jobSecret(ClusterJob job, String secret) {
    return new SecretBuilder()
        .withMetadata(meta(job, jobSecretName(job)))
        .withType("Opaque")
        .withStringData(Map.of("secret", secret))
        .build();
  }

  /** A job secret: 32 random bytes in hex. */
  public static String newJobSecret() {
    byte[] bytes = new byte[32];
    new SecureRandom().nextBytes(bytes);
    return java.util.HexFormat.of().formatHex(bytes);
  }

  /** A password for the board: 24 random characters. */
  public static String newPassword() {
    byte[] bytes = new byte[18];
    new SecureRandom().nextBytes(bytes);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }

  private static ObjectMeta meta(ClusterJob job, String name) {
    return new ObjectMetaBuilder()
        .withName(name)
        .withNamespace(job.namespace())
        .withLabels(job.labels())
        .build();
  }

  /** Objects as one YAML stream, kubectl-ready. */
  public static String toYaml(List<? extends HasMetadata> objects) {
    StringBuilder out = new StringBuilder();
    for (HasMetadata o : objects) {
      String yaml = Serialization.asYaml(o);
      out.append(yaml.startsWith("---") ? yaml : "---\n" + yaml);
      if (!yaml.endsWith("\n")) {
        out.append('\n');
      }
    }
    return out.toString();
  }
}
