package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Kubeflow Trainer v2's {@code TrainJob} ({@code trainer.kubeflow.org/v1alpha1}, on JobSet) with a
 * namespaced {@code TrainingRuntime} of the same name that carries cria's pods under an MPI policy:
 * a {@code node} replicated job of ssh servers (ready once sshd listens) and a {@code launcher}
 * that depends on the nodes being ready, as the project's own MPI runtime has them. Trainer makes
 * the hostfile and the ssh keys ({@code mlPolicy.mpi}); JobSet restarts the whole job up to the
 * backoff limit, each restart resuming the run.
 *
 * <p>By default the runtime is the run's own: it names the run's ConfigMap, job secret and image.
 * {@link #on} puts TrainJobs on a runtime many runs share ({@link SharedRuntime}) instead: the
 * TrainJob sets the launcher's command and image and patches the rest into its pods ({@code
 * runtimePatches}, which take volumes, mounts, labels and placement but no image, command or
 * resources for the nodes).
 */
final class TrainJobKind implements JobKind {
  /** The API version of TrainJob and TrainingRuntime. */
  static final String API = "trainer.kubeflow.org/v1alpha1";

  /** JobSet's label naming a pod's JobSet (the TrainJob's name). */
  static final String JOBSET_NAME = "jobset.sigs.k8s.io/jobset-name";

  /** JobSet's label naming a pod's replicated job ({@code launcher}, {@code node}). */
  static final String REPLICATED_JOB = "jobset.sigs.k8s.io/replicatedjob-name";

  /** Trainer's label marking the replicated job the TrainJob's {@code trainer} section shapes. */
  static final String ANCESTOR = "trainer.kubeflow.org/trainjob-ancestor-step";

  /**
   * What Trainer's {@code TrainJobStatus} feature puts into every pod (the endpoint, its CA file
   * and the token file), passed on to the ranks so that rank 0 reports progress into the TrainJob's
   * status (cria-train's {@code TrainerStatusSink}).
   */
  static final List<String> TRAINER_STATUS =
      List.of(
          "KUBEFLOW_TRAINER_SERVER_URL",
          "KUBEFLOW_TRAINER_SERVER_CA_CERT",
          "KUBEFLOW_TRAINER_SERVER_TOKEN");

  private static final ResourceDefinitionContext TRAINJOBS =
      new ResourceDefinitionContext.Builder()
          .withGroup("trainer.kubeflow.org")
          .withVersion("v1alpha1")
          .withKind("TrainJob")
          .withPlural("trainjobs")
          .withNamespaced(true)
          .build();

  /** Namespaced {@code TrainingRuntime}s. */
  static final ResourceDefinitionContext RUNTIMES =
      new ResourceDefinitionContext.Builder()
          .withGroup("trainer.kubeflow.org")
          .withVersion("v1alpha1")
          .withKind("TrainingRuntime")
          .withPlural("trainingruntimes")
          .withNamespaced(true)
          .build();

  @Override
  public String flag() {
    return "trainjob";
  }

  @Override
  public String kind() {
    return "TrainJob";
  }

  @Override
  public ResourceDefinitionContext resource() {
    return TRAINJOBS;
  }

  @Override
  public List<ResourceDefinitionContext> companions() {
    return List.of(RUNTIMES);
  }

  /** A TrainJob on the run's own runtime (null), or on a shared one the TrainJob patches. */
  private final RuntimeRef shared;

  /** The dataset the run's own runtime prepares before its nodes start, or null. */
  private final PrepareJob initializer;

  TrainJobKind() {
    this(null, null);
  }

  private TrainJobKind(RuntimeRef shared, PrepareJob initializer) {
    this.shared = shared;
    this.initializer = initializer;
  }

  /**
   * TrainJobs whose runtime prepares the run's dataset first, as Trainer's initializer steps: a
   * {@code dataset-initializer} replicated job of {@code prepare.parts()} indexed pods ({@code cria
   * prepare --part I/N}, each retried alone) and a {@code dataset-merge} after it; the nodes start
   * once the merge is complete. Each step does nothing where its output is there already, so a
   * restarted or resubmitted TrainJob goes straight to training.
   */
  public static JobKind preparing(PrepareJob prepare) {
    return new TrainJobKind(null, prepare);
  }

  /**
   * TrainJobs on {@code runtime}, a runtime shared by many runs that runs cria's image ({@link
   * SharedRuntime}): the TrainJob names it, sets the launcher's command and image, and patches the
   * run's volumes, node selector and tolerations into its pods ({@code runtimePatches}). Only the
   * training job: the compile job's launcher needs a worker's resources, which a patch cannot give.
   */
  public static JobKind on(RuntimeRef runtime) {
    return new TrainJobKind(runtime, null);
  }

  /** The shared runtime this kind's TrainJobs use, or null for a run's own. */
  public RuntimeRef sharedRuntime() {
    return shared;
  }

  @Override
  public List<GenericKubernetesResource> train(ClusterJob job) {
    String script = PodTemplates.trainScript(job, masterHost(job), TRAINER_STATUS);
    if (shared != null) {
      return List.of(onShared(job, script));
    }
    return objects(
        job,
        job.name(),
        job.workers(),
        PodTemplates.launcher(job, "node", script, false, true),
        true,
        initializer == null ? List.of() : initializerSteps(job, initializer));
  }

  /** The prepare steps as replicated jobs, each depending on the one before it. */
  private static List<Map<String, Object>> initializerSteps(ClusterJob job, PrepareJob prepare) {
    Map<String, Object> parts = new LinkedHashMap<>();
    parts.put("completionMode", "Indexed");
    parts.put("completions", prepare.parts());
    parts.put("parallelism", prepare.parts());
    parts.put("backoffLimitPerIndex", prepare.retries()); // a failed part is retried alone
    parts.put(
        "template",
        PodTemplates.template(
            job,
            Map.of(ANCESTOR, DATASET_INITIALIZER),
            prepare.pod(DATASET_INITIALIZER, prepare.initializerScript(), true)));
    Map<String, Object> merge = new LinkedHashMap<>();
    merge.put("backoffLimit", prepare.retries());
    merge.put(
        "template",
        PodTemplates.template(
            job, Map.of(), prepare.pod(DATASET_MERGE, prepare.mergeStepScript(), false)));
    Map<String, Object> first = new LinkedHashMap<>();
    first.put("name", DATASET_INITIALIZER);
    first.put("template", stepTemplate(job, Map.of(ANCESTOR, DATASET_INITIALIZER), parts));
    Map<String, Object> second = new LinkedHashMap<>();
    second.put("name", DATASET_MERGE);
    second.put("dependsOn", List.of(ordered("name", DATASET_INITIALIZER, "status", "Complete")));
    second.put("template", stepTemplate(job, Map.of(), merge));
    return List.of(first, second);
  }

  private static Map<String, Object> stepTemplate(
      ClusterJob job, Map<String, String> extraLabels, Map<String, Object> jobSpec) {
    Map<String, String> labels = new LinkedHashMap<>(job.labels());
    labels.putAll(extraLabels);
    Map<String, Object> template = new LinkedHashMap<>();
    template.put("metadata", Map.of("labels", labels));
    template.put("spec", jobSpec);
    return template;
  }

  /** Trainer's name (and ancestor label) of the step that prepares a dataset. */
  static final String DATASET_INITIALIZER = "dataset-initializer";

  /** The step after it that merges the parts. */
  static final String DATASET_MERGE = "dataset-merge";

  @Override
  public List<GenericKubernetesResource> compile(ClusterJob job) {
    if (shared != null) {
      throw new IllegalArgumentException(
          "--runtime: the compile job runs on its own runtime (its checks run in the launcher"
              + " with a worker's resources, which a shared runtime's launcher lacks); drop"
              + " --runtime");
    }
    return objects(
        job,
        job.name() + "-compile",
        1,
        PodTemplates.launcher(job, "node", PodTemplates.compileScript(job), true, false),
        false,
        List.of());
  }

  /** Node 0's pod ({@code <jobset>-<replicated job>-<job index>-<pod index>}) under JobSet. */
  @Override
  public String masterHost(ClusterJob job) {
    return job.name() + "-node-0-0." + job.name() + "." + job.namespace() + ".svc";
  }

  @Override
  public String jobLabel() {
    return JOBSET_NAME;
  }

  @Override
  public String role(Map<String, String> podLabels) {
    return switch (podLabels.getOrDefault(REPLICATED_JOB, "")) {
      case "launcher" -> "launcher";
      case "node" -> "worker";
      case DATASET_INITIALIZER -> "prepare";
      case DATASET_MERGE -> "merge";
      default -> "";
    };
  }

  /** Trainer says Complete where the MPI Operator says Succeeded. */
  @Override
  public String state(String conditionType) {
    return conditionType.equals("Complete") ? "Succeeded" : conditionType;
  }

  private static List<GenericKubernetesResource> objects(
      ClusterJob job,
      String name,
      int nodes,
      PodSpec launcher,
      boolean secret,
      List<Map<String, Object>> steps) {
    Map<String, Object> runtimeSpec =
        runtimeSpec(
            nodes,
            job.procsPerWorker(),
            job.backoffLimit(),
            PodTemplates.template(job, Map.of(), nodePod(job, name, secret, true)),
            PodTemplates.template(job, Map.of(ANCESTOR, "trainer"), launcher),
            job.labels(),
            steps);
    GenericKubernetesResource runtime =
        new GenericKubernetesResourceBuilder()
            .withApiVersion(API)
            .withKind("TrainingRuntime")
            .withMetadata(Manifests.meta(job, name))
            .withAdditionalProperties(Map.of("spec", runtimeSpec))
            .build();
    return List.of(runtime, trainJob(job, name, nodes, new RuntimeRef(false, name), null, null));
  }

  /**
   * The TrainJob on shared runtime: the launcher's command and image from the TrainJob's trainer,
   * the rest of what the run's own runtime carries patched into the runtime's pods.
   */
  private GenericKubernetesResource onShared(ClusterJob job, String script) {
    if (!job.resources().isEmpty() || job.cpu() != null || job.memory() != null) {
      throw new IllegalArgumentException(
          "--runtime: the nodes' resources are the runtime's (cria k8s render runtime --resource"
              + " --cpu --memory), which a TrainJob cannot patch; drop --resource, --cpu and"
              + " --memory");
    }
    if (shared.name().equals(job.name()) || shared.name().equals(job.name() + "-compile")) {
      throw new IllegalArgumentException(
          "--runtime "
              + shared.name()
              + ": a shared runtime cannot have the name of the job's own runtime (cria k8s stop "
              + job.name()
              + " would delete it)");
    }
    Map<String, Object> trainer = new LinkedHashMap<>();
    trainer.put("image", job.image());
    trainer.put("command", List.of("/bin/sh", "-c", script));
    List<Map<String, Object>> jobs = new ArrayList<>();
    jobs.add(patch(job, "node", nodePod(job, job.name(), true, false)));
    jobs.add(patch(job, "launcher", PodTemplates.launcher(job, "node", script, false, true)));
    Map<String, Object> patch = new LinkedHashMap<>();
    patch.put("manager", PATCH_MANAGER);
    patch.put(
        "trainingRuntimeSpec", Map.of("template", Map.of("spec", Map.of("replicatedJobs", jobs))));
    return trainJob(job, job.name(), job.workers(), shared, trainer, List.of(patch));
  }

  /**
   * A replicated job's patch: the run's labels on its pods, and of {@code pod} what a patch may
   * carry: volumes, the containers' mounts, the node selector and the tolerations.
   */
  private static Map<String, Object> patch(ClusterJob job, String name, PodSpec pod) {
    Map<String, Object> spec = new LinkedHashMap<>();
    spec.put("volumes", pod.getVolumes());
    List<Map<String, Object>> containers = new ArrayList<>();
    for (var c : pod.getContainers()) {
      containers.add(ordered("name", c.getName(), "volumeMounts", c.getVolumeMounts()));
    }
    spec.put("containers", containers);
    if (pod.getNodeSelector() != null && !pod.getNodeSelector().isEmpty()) {
      spec.put("nodeSelector", pod.getNodeSelector());
    }
    if (pod.getTolerations() != null && !pod.getTolerations().isEmpty()) {
      spec.put("tolerations", pod.getTolerations());
    }
    Map<String, Object> podTemplate = new LinkedHashMap<>();
    podTemplate.put("metadata", Map.of("labels", job.labels()));
    podTemplate.put(
        "spec", Serialization.jsonMapper().convertValue(spec, Map.class)); // as the API writes it
    return ordered("name", name, "template", Map.of("spec", Map.of("template", podTemplate)));
  }

  /**
   * A node's pod; the training job's ({@code train}) also gets what Trainer's {@code
   * TrainJobStatus} feature gives the launcher's pods alone, the {@code trainer} step's: the token
   * and CA files its status server takes, at the same path ({@link #TRAINER_STATUS_DIR}). Rank 0
   * runs on node 0, with the launcher's variables passed on by mpirun: it reads these files in its
   * own pod. The token is projected for the audience the server checks (the TrainJob's status
   * path); the CA's ConfigMap, which Trainer makes only when the feature is on, is optional.
   */
  private static PodSpec nodePod(
      ClusterJob job, String trainJob, boolean train, boolean readiness) {
    PodSpec pod = PodTemplates.worker(job, "node", train, readiness);
    if (!train) {
      return pod;
    }
    pod.getVolumes()
        .add(
            new VolumeBuilder()
                .withName(TRAINER_STATUS_VOLUME)
                .withNewProjected()
                .addNewSource()
                .withNewServiceAccountToken()
                .withAudience(
                    "trainer.kubeflow.org/v1alpha1/namespaces/"
                        + job.namespace()
                        + "/trainjobs/"
                        + trainJob
                        + "/status")
                .withExpirationSeconds(3600L)
                .withPath("token")
                .endServiceAccountToken()
                .endSource()
                .addNewSource()
                .withNewConfigMap()
                .withName(trainJob + "-tls-config")
                .withOptional(true)
                .addNewItem()
                .withKey("ca.crt")
                .withPath("ca.crt")
                .endItem()
                .endConfigMap()
                .endSource()
                .endProjected()
                .build());
    pod.getContainers()
        .getFirst()
        .getVolumeMounts()
        .add(
            new VolumeMountBuilder()
                .withName(TRAINER_STATUS_VOLUME)
                .withMountPath(TRAINER_STATUS_DIR)
                .withReadOnly(true)
                .build());
    return pod;
  }

  /** Where Trainer's status server token and CA go in a pod, as its plugin mounts them. */
  static final String TRAINER_STATUS_DIR = "/var/run/secrets/kubeflow/trainer";

  private static final String TRAINER_STATUS_VOLUME = "kubeflow-trainer-token";

  /** Who wrote a TrainJob's runtime patch (the field is immutable once set). */
  static final String PATCH_MANAGER = "cria.dev/cria";

  private static GenericKubernetesResource trainJob(
      ClusterJob job,
      String name,
      int nodes,
      RuntimeRef runtime,
      Map<String, Object> trainerExtra,
      List<Map<String, Object>> patches) {
    Map<String, Object> trainer = new LinkedHashMap<>();
    trainer.put("numNodes", nodes);
    trainer.put("numProcPerNode", job.procsPerWorker());
    if (trainerExtra != null) {
      trainer.putAll(trainerExtra);
    }
    Map<String, Object> runtimeRef = new LinkedHashMap<>();
    runtimeRef.put("apiGroup", "trainer.kubeflow.org");
    runtimeRef.put("kind", runtime.kind());
    runtimeRef.put("name", runtime.name());
    Map<String, Object> spec = new LinkedHashMap<>();
    spec.put("runtimeRef", runtimeRef);
    if (patches != null) {
      spec.put("runtimePatches", patches);
    }
    spec.put("trainer", trainer);
    if (job.queue() != null) {
      spec.put("suspend", true); // Kueue unsuspends it when its queue admits it
    }
    return new GenericKubernetesResourceBuilder()
        .withApiVersion(API)
        .withKind("TrainJob")
        .withMetadata(Manifests.jobMeta(job, name))
        .withAdditionalProperties(Map.of("spec", spec))
        .build();
  }

  /**
   * A runtime's spec: an MPI policy over {@code nodes} nodes of {@code procsPerNode} slots, the
   * {@code steps} before the nodes (each depending on the one before; the nodes on the last), a
   * {@code node} replicated job of ssh servers ({@code nodePod}) and a {@code launcher} ({@code
   * launcherPod}) started once the nodes are ready, whose end ends the job; JobSet restarts the
   * whole job up to {@code maxRestarts} times.
   */
  static Map<String, Object> runtimeSpec(
      int nodes,
      int procsPerNode,
      int maxRestarts,
      Map<String, Object> nodePod,
      Map<String, Object> launcherPod,
      Map<String, String> labels,
      List<Map<String, Object>> steps) {
    Map<String, Object> mpi = new LinkedHashMap<>();
    mpi.put("numProcPerNode", procsPerNode);
    mpi.put("mpiImplementation", "OpenMPI");
    mpi.put("sshAuthMountPath", "/root/.ssh");
    mpi.put("runLauncherAsNode", false);
    Map<String, Object> mlPolicy = new LinkedHashMap<>();
    mlPolicy.put("numNodes", nodes);
    mlPolicy.put("mpi", mpi);

    Map<String, Object> node = new LinkedHashMap<>();
    node.put("name", "node");
    if (!steps.isEmpty()) {
      Object last = steps.getLast().get("name");
      node.put("dependsOn", List.of(ordered("name", last, "status", "Complete")));
    }
    node.put("template", replicatedJob(labels, nodePod));
    Map<String, Object> launcherJob = new LinkedHashMap<>();
    launcherJob.put("name", "launcher");
    launcherJob.put("dependsOn", List.of(ordered("name", "node", "status", "Ready")));
    Map<String, String> launcherLabels = new LinkedHashMap<>(labels);
    launcherLabels.put(ANCESTOR, "trainer");
    launcherJob.put("template", replicatedJob(launcherLabels, launcherPod));

    Map<String, Object> jobSet = new LinkedHashMap<>();
    jobSet.put("network", Map.of("publishNotReadyAddresses", true));
    jobSet.put(
        "successPolicy", ordered("operator", "All", "targetReplicatedJobs", List.of("launcher")));
    jobSet.put("failurePolicy", Map.of("maxRestarts", maxRestarts));
    List<Map<String, Object>> replicatedJobs = new ArrayList<>(steps);
    replicatedJobs.add(node);
    replicatedJobs.add(launcherJob);
    jobSet.put("replicatedJobs", replicatedJobs);

    Map<String, Object> runtimeSpec = new LinkedHashMap<>();
    runtimeSpec.put("mlPolicy", mlPolicy);
    runtimeSpec.put("template", Map.of("spec", jobSet));
    return runtimeSpec;
  }

  /** A map of two entries in this order (Map.of's order differs from one JVM to the next). */
  private static Map<String, Object> ordered(String k1, Object v1, String k2, Object v2) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put(k1, v1);
    m.put(k2, v2);
    return m;
  }

  /**
   * A replicated job's Job template: the pods never retried by the Job itself ({@code backoffLimit:
   * 0}), since JobSet restarts the whole job and each restart resumes the run.
   */
  private static Map<String, Object> replicatedJob(
      Map<String, String> labels, Map<String, Object> podTemplate) {
    Map<String, Object> jobSpec = new LinkedHashMap<>();
    jobSpec.put("backoffLimit", 0);
    jobSpec.put("template", podTemplate);
    Map<String, Object> template = new LinkedHashMap<>();
    template.put("metadata", Map.of("labels", labels));
    template.put("spec", jobSpec);
    return template;
  }
}
