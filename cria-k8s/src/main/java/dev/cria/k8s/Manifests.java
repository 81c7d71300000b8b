package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The objects of a run on Kubernetes besides its jobs ({@link JobKind}), as {@code cria k8s render}
 * prints them and {@code cria k8s submit} applies them: a ConfigMap with the run's resolved config,
 * the job secret and the board (a Deployment and a Service; its password's Secret is made at
 * submission and never printed).
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

  /**
   * A job object's metadata: as {@link #meta}, with Kueue's queue label when the run has a queue
   * (the job is then created suspended, and Kueue starts it when its queue admits it).
   */
  static ObjectMeta jobMeta(ClusterJob job, String name) {
    ObjectMeta meta = meta(job, name);
    if (job.queue() != null) {
      Map<String, String> labels = new LinkedHashMap<>(meta.getLabels());
      labels.put(ClusterJob.QUEUE, job.queue());
      meta.setLabels(labels);
    }
    return meta;
  }

  /** An object's metadata: {@code name} in the job's namespace, with the run's labels. */
  static ObjectMeta meta(ClusterJob job, String name) {
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
