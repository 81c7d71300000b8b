package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Kubeflow MPI Operator's {@code MPIJob} ({@code kubeflow.org/v2beta1}): a Launcher and Workers
 * replica spec around cria's pods, one MPI slot per rank; the operator makes the hostfile and the
 * ssh keys and starts the launcher once the workers are ready.
 */
final class MpiJobKind implements JobKind {
  /** The operator's label naming a pod's role (launcher, worker). */
  static final String ROLE = "training.kubeflow.org/job-role";

  /** The operator's label naming a pod's MPIJob. */
  static final String JOB_NAME = "training.kubeflow.org/job-name";

  private static final ResourceDefinitionContext RESOURCE =
      new ResourceDefinitionContext.Builder()
          .withGroup("kubeflow.org")
          .withVersion("v2beta1")
          .withKind(Manifests.MPIJOB_KIND)
          .withPlural("mpijobs")
          .withNamespaced(true)
          .build();

  @Override
  public String flag() {
    return "mpijob";
  }

  @Override
  public String kind() {
    return Manifests.MPIJOB_KIND;
  }

  @Override
  public ResourceDefinitionContext resource() {
    return RESOURCE;
  }

  @Override
  public List<ResourceDefinitionContext> companions() {
    return List.of();
  }

  @Override
  public List<GenericKubernetesResource> train(ClusterJob job) {
    return List.of(
        mpiJob(
            job,
            job.name(),
            job.workers(),
            PodTemplates.trainScript(job, masterHost(job), List.of()),
            false,
            true));
  }

  @Override
  public List<GenericKubernetesResource> compile(ClusterJob job) {
    return List.of(
        mpiJob(job, job.name() + "-compile", 1, PodTemplates.compileScript(job), true, false));
  }

  /** Worker 0's pod under the operator's headless service, named after the job. */
  @Override
  public String masterHost(ClusterJob job) {
    return job.name() + "-worker-0." + job.name() + "." + job.namespace() + ".svc";
  }

  @Override
  public String jobLabel() {
    return JOB_NAME;
  }

  @Override
  public String role(Map<String, String> podLabels) {
    return podLabels.getOrDefault(ROLE, "");
  }

  @Override
  public String state(String conditionType) {
    return conditionType;
  }

  private static GenericKubernetesResource mpiJob(
      ClusterJob job,
      String name,
      int workers,
      String launcherScript,
      boolean checks,
      boolean secret) {
    Map<String, Object> launcher = new LinkedHashMap<>();
    launcher.put("replicas", 1);
    launcher.put(
        "template",
        PodTemplates.template(
            job, Map.of(), PodTemplates.launcher(job, "launcher", launcherScript, checks, secret)));
    Map<String, Object> worker = new LinkedHashMap<>();
    worker.put("replicas", workers);
    worker.put(
        "template",
        PodTemplates.template(job, Map.of(), PodTemplates.worker(job, "worker", secret, false)));
    Map<String, Object> replicas = new LinkedHashMap<>();
    replicas.put("Launcher", launcher);
    replicas.put("Worker", worker);
    Map<String, Object> runPolicy = new LinkedHashMap<>();
    runPolicy.put("cleanPodPolicy", "Running");
    runPolicy.put("backoffLimit", job.backoffLimit());
    if (job.queue() != null) {
      runPolicy.put("suspend", true); // Kueue unsuspends it when its queue admits it
    }
    Map<String, Object> spec = new LinkedHashMap<>();
    spec.put("slotsPerWorker", job.procsPerWorker());
    spec.put("launcherCreationPolicy", "WaitForWorkersReady");
    spec.put("mpiImplementation", "OpenMPI");
    spec.put("runPolicy", runPolicy);
    spec.put("mpiReplicaSpecs", replicas);
    return new GenericKubernetesResourceBuilder()
        .withApiVersion(Manifests.MPIJOB_API)
        .withKind(Manifests.MPIJOB_KIND)
        .withMetadata(Manifests.jobMeta(job, name))
        .withAdditionalProperties(Map.of("spec", spec))
        .build();
  }
}
