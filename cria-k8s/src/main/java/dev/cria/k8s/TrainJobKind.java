package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
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
 * <p>The runtime is the run's own, not a shared {@code ClusterTrainingRuntime}: it names the run's
 * ConfigMap and job secret and the image, which a TrainJob cannot patch into a shared runtime's
 * pods (its {@code runtimePatches} take volumes and env but no image or command for the nodes).
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
   * What Trainer's {@code TrainJobStatus} feature puts into every pod (the endpoint, its CA file and
   * the token file), passed on to the ranks so that rank 0 reports progress into the TrainJob's
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

  private static final ResourceDefinitionContext RUNTIMES =
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

  @Override
  public List<GenericKubernetesResource> train(ClusterJob job) {
    String script = PodTemplates.trainScript(job, masterHost(job), TRAINER_STATUS);
    return objects(
        job,
        job.name(),
        job.workers(),
        PodTemplates.launcher(job, "node", script, false, true),
        true);
  }

  @Override
  public List<GenericKubernetesResource> compile(ClusterJob job) {
    return objects(
        job,
        job.name() + "-compile",
        1,
        PodTemplates.launcher(job, "node", PodTemplates.compileScript(job), true, false),
        false);
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
      default -> "";
    };
  }

  /** Trainer says Complete where the MPI Operator says Succeeded. */
  @Override
  public String state(String conditionType) {
    return conditionType.equals("Complete") ? "Succeeded" : conditionType;
  }

  private static List<GenericKubernetesResource> objects(
      ClusterJob job, String name, int nodes, PodSpec launcher, boolean secret) {
    Map<String, Object> mpi = new LinkedHashMap<>();
    mpi.put("numProcPerNode", job.procsPerWorker());
    mpi.put("mpiImplementation", "OpenMPI");
    mpi.put("sshAuthMountPath", "/root/.ssh");
    mpi.put("runLauncherAsNode", false);
    Map<String, Object> mlPolicy = new LinkedHashMap<>();
    mlPolicy.put("numNodes", nodes);
    mlPolicy.put("mpi", mpi);

    Map<String, Object> node = new LinkedHashMap<>();
    node.put("name", "node");
    node.put(
        "template", replicatedJob(job, Map.of(), PodTemplates.worker(job, "node", secret, true)));
    Map<String, Object> launcherJob = new LinkedHashMap<>();
    launcherJob.put("name", "launcher");
    launcherJob.put("dependsOn", List.of(ordered("name", "node", "status", "Ready")));
    launcherJob.put("template", replicatedJob(job, Map.of(ANCESTOR, "trainer"), launcher));

    Map<String, Object> jobSet = new LinkedHashMap<>();
    jobSet.put("network", Map.of("publishNotReadyAddresses", true));
    jobSet.put(
        "successPolicy", ordered("operator", "All", "targetReplicatedJobs", List.of("launcher")));
    jobSet.put("failurePolicy", Map.of("maxRestarts", job.backoffLimit()));
    jobSet.put("replicatedJobs", List.of(node, launcherJob));

    Map<String, Object> runtimeSpec = new LinkedHashMap<>();
    runtimeSpec.put("mlPolicy", mlPolicy);
    runtimeSpec.put("template", Map.of("spec", jobSet));
    GenericKubernetesResource runtime =
        new GenericKubernetesResourceBuilder()
            .withApiVersion(API)
            .withKind("TrainingRuntime")
            .withMetadata(Manifests.meta(job, name))
            .withAdditionalProperties(Map.of("spec", runtimeSpec))
            .build();

    Map<String, Object> trainer = new LinkedHashMap<>();
    trainer.put("numNodes", nodes);
    trainer.put("numProcPerNode", job.procsPerWorker());
    Map<String, Object> runtimeRef = new LinkedHashMap<>();
    runtimeRef.put("apiGroup", "trainer.kubeflow.org");
    runtimeRef.put("kind", "TrainingRuntime");
    runtimeRef.put("name", name);
    Map<String, Object> spec = new LinkedHashMap<>();
    spec.put("runtimeRef", runtimeRef);
    spec.put("trainer", trainer);
    if (job.queue() != null) {
      spec.put("suspend", true); // Kueue unsuspends it when its queue admits it
    }
    GenericKubernetesResource trainJob =
        new GenericKubernetesResourceBuilder()
            .withApiVersion(API)
            .withKind("TrainJob")
            .withMetadata(Manifests.jobMeta(job, name))
            .withAdditionalProperties(Map.of("spec", spec))
            .build();
    return List.of(runtime, trainJob);
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
      ClusterJob job, Map<String, String> labels, PodSpec pod) {
    Map<String, String> jobLabels = new LinkedHashMap<>(job.labels());
    jobLabels.putAll(labels);
    Map<String, Object> jobSpec = new LinkedHashMap<>();
    jobSpec.put("backoffLimit", 0);
    jobSpec.put("template", PodTemplates.template(job, labels, pod));
    Map<String, Object> template = new LinkedHashMap<>();
    template.put("metadata", Map.of("labels", jobLabels));
    template.put("spec", jobSpec);
    return template;
  }
}
