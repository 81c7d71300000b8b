package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A kind of Kubernetes job that runs a run's launcher and workers ({@link PodTemplates}) under an
 * operator: the Kubeflow MPI Operator's {@code MPIJob} ({@link MpiJobKind}) or Kubeflow Trainer
 * v2's {@code TrainJob} with its MPI {@code TrainingRuntime} ({@link TrainJobKind}). Each says what
 * objects a job needs, which resource the operator serves, how it labels the job's pods and what
 * its conditions mean, so that submitting, watching, stopping and cleaning up ({@link Cluster}) are
 * the same on both.
 */
public sealed interface JobKind permits MpiJobKind, TrainJobKind {
  /** The Kubeflow MPI Operator's MPIJob. */
  JobKind MPIJOB = new MpiJobKind();

  /** Kubeflow Trainer v2's TrainJob on a TrainingRuntime with an MPI policy. */
  JobKind TRAINJOB = new TrainJobKind();

  /**
   * Kubeflow Trainer v2's TrainJob on {@code runtime}, a runtime many runs share ({@link
   * SharedRuntime}), rather than on the run's own.
   */
  static JobKind trainJobOn(RuntimeRef runtime) {
    return TrainJobKind.on(runtime);
  }

  /**
   * Kubeflow Trainer v2's TrainJob on the run's own runtime, which prepares the run's dataset first
   * ({@code prepare}) as Trainer's initializer steps.
   */
  static JobKind trainJobPreparing(PrepareJob prepare) {
    return TrainJobKind.preparing(prepare);
  }

  /**
   * The kind a render or submit asks for, or null where nothing decides it (submit then asks the
   * cluster): {@code --kind} ({@code kind}, or null), a shared runtime ({@code runtime}, or null
   * for the run's own) and the run's prepare steps ({@code prepare}, or null). Either of the last
   * two makes it a TrainJob, and refuses another kind by the flag that asked for it; the two do not
   * go together (a shared runtime has no steps of the run's).
   */
  static JobKind requested(String kind, RuntimeRef runtime, PrepareJob prepare) {
    if (prepare != null) {
      if (runtime != null) {
        throw new IllegalArgumentException(
            "--prepare-input adds steps to the run's own runtime; a shared one (--runtime) has"
                + " none: run cria k8s submit prepare first");
      }
      if (kind != null && !kind.equalsIgnoreCase(TRAINJOB.flag())) {
        throw new IllegalArgumentException(
            "--prepare-input is a TrainJob's initializer step; the "
                + kind
                + " has none: run cria k8s submit prepare first, or use --kind trainjob");
      }
      return TrainJobKind.preparing(prepare);
    }
    if (runtime != null) {
      if (kind != null && !kind.equalsIgnoreCase(TRAINJOB.flag())) {
        throw new IllegalArgumentException(
            "--runtime names a Kubeflow Trainer runtime: it needs --kind trainjob, not " + kind);
      }
      return TrainJobKind.on(runtime);
    }
    return kind == null ? null : parse(kind);
  }

  /** Every kind, the default first. */
  static List<JobKind> all() {
    return List.of(MPIJOB, TRAINJOB);
  }

  /** The kind {@code --kind NAME} names: {@code mpijob} or {@code trainjob}, any case. */
  static JobKind parse(String name) {
    for (JobKind k : all()) {
      if (k.flag().equals(name.toLowerCase(Locale.ROOT))) {
        return k;
      }
    }
    throw new IllegalArgumentException(
        "--kind " + name + ": expected mpijob (Kubeflow MPI Operator) or trainjob (Trainer v2)");
  }

  /** The kind whose job object {@code o} is, or null for any other object. */
  static JobKind ofJob(HasMetadata o) {
    for (JobKind k : all()) {
      if (o instanceof GenericKubernetesResource && k.kind().equals(o.getKind())) {
        return k;
      }
    }
    return null;
  }

  /** The resource of {@code o} when it is a kind's companion (a TrainingRuntime), else null. */
  static ResourceDefinitionContext companionOf(HasMetadata o) {
    for (JobKind k : all()) {
      for (ResourceDefinitionContext c : k.companions()) {
        if (o instanceof GenericKubernetesResource && c.getKind().equals(o.getKind())) {
          return c;
        }
      }
    }
    return null;
  }

  /** Its name on the command line: {@code mpijob}, {@code trainjob}. */
  String flag();

  /** The API's kind of the job object: {@code MPIJob}, {@code TrainJob}. */
  String kind();

  /** The job's resource, as the operator serves it. */
  ResourceDefinitionContext resource();

  /**
   * Other resources a job of this kind is made of and that go with it (a TrainJob's
   * TrainingRuntime): deleted with the job, never kept running alone.
   */
  List<ResourceDefinitionContext> companions();

  /**
   * The training job's objects: the job last, after what it refers to. The launcher waits for the
   * workers and runs {@code mpirun ... cria worker} on every slot, rank 0 on the first worker.
   */
  List<GenericKubernetesResource> train(ClusterJob job);

  /**
   * The compile job's objects (named {@code <job>-compile}): one worker, as the operators need one;
   * the launcher runs {@code cria compile} with a worker's node selector, tolerations and memory.
   */
  List<GenericKubernetesResource> compile(ClusterJob job);

  /** The DNS name of the first worker's pod, where rank 0 listens. */
  String masterHost(ClusterJob job);

  /** The label the operator puts on a pod naming the job it belongs to. */
  String jobLabel();

  /** A pod's role from its labels: {@code launcher} or {@code worker} (empty when unknown). */
  String role(Map<String, String> podLabels);

  /**
   * A condition's type in the words {@link JobStatus} uses (Created, Running, Restarting,
   * Succeeded, Failed, Suspended).
   */
  String state(String conditionType);
}
