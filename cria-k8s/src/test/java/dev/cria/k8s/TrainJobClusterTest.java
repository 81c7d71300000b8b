package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.APIResourceBuilder;
import io.fabric8.kubernetes.api.model.APIResourceListBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A run's TrainJob on a cluster that serves Kubeflow Trainer v2 and not the MPI Operator (a mock
 * API server, playing Trainer's and JobSet's part by hand): the kind is found by discovery, and
 * submit, status, the launcher's pod, stop and cleanup work as they do on an MPIJob.
 */
class TrainJobClusterTest {
  private static CustomResourceDefinitionContext crd(String kind, String plural) {
    return new CustomResourceDefinitionContext.Builder()
        .withGroup("trainer.kubeflow.org")
        .withVersion("v1alpha1")
        .withKind(kind)
        .withPlural(plural)
        .withScope("Namespaced")
        .build();
  }

  KubernetesMockServer server;
  KubernetesClient client;
  Cluster cluster;
  final ClusterJob job = Jobs.small();

  @BeforeEach
  void start() {
    server =
        MockApiServers.start(
            List.of(crd("TrainJob", "trainjobs"), crd("TrainingRuntime", "trainingruntimes")));
    client = server.createClient();
    cluster = new Cluster(client, "default");
  }

  @AfterEach
  void stop() {
    client.close();
    server.destroy();
  }

  /** What JobSet does for Trainer: the launcher's pod and the nodes', in {@code phase}. */
  private void jobSetMakesPods(String jobSet, String phase) {
    List<String[]> pods = new ArrayList<>();
    pods.add(new String[] {jobSet + "-launcher-0-0-x7k2p", "launcher"});
    for (int n = 0; n < job.workers(); n++) {
      pods.add(new String[] {jobSet + "-node-0-" + n + "-q" + n + "zz", "node"});
    }
    for (String[] p : pods) {
      Map<String, String> labels = new LinkedHashMap<>(job.labels());
      labels.put(TrainJobKind.JOBSET_NAME, jobSet);
      labels.put(TrainJobKind.REPLICATED_JOB, p[1]);
      Pod pod =
          new PodBuilder()
              .withNewMetadata()
              .withName(p[0])
              .withNamespace("default")
              .withLabels(labels)
              .endMetadata()
              .withNewSpec()
              .addNewContainer()
              .withName("node")
              .endContainer()
              .endSpec()
              .withNewStatus()
              .withPhase(phase)
              .endStatus()
              .build();
      client.pods().inNamespace("default").resource(pod).createOr(x -> x.update());
    }
  }

  /** What Trainer does: a condition on the TrainJob's status. */
  @SuppressWarnings("unchecked")
  private void trainerSays(String type) {
    var trainJobs = client.genericKubernetesResources(JobKind.TRAINJOB.resource());
    GenericKubernetesResource current = trainJobs.inNamespace("default").withName(job.name()).get();
    Map<String, Object> status =
        (Map<String, Object>)
            current.getAdditionalProperties().computeIfAbsent("status", k -> new LinkedHashMap<>());
    List<Map<String, Object>> conditions =
        (List<Map<String, Object>>) status.computeIfAbsent("conditions", k -> new ArrayList<>());
    conditions.add(
        new LinkedHashMap<>(
            Map.of(
                "type",
                type,
                "status",
                "True",
                "reason",
                type,
                "message",
                "TrainJob is " + type.toLowerCase(),
                "lastTransitionTime",
                "2026-12-06T10:00:00Z")));
    trainJobs.inNamespace("default").resource(current).update();
  }

  @Test
  void aClusterThatServesOnlyTrainerGetsTrainJobs() {
    server
        .expect()
        .get()
        .withPath("/apis/trainer.kubeflow.org/v1alpha1")
        .andReturn(
            200,
            new APIResourceListBuilder()
                .withGroupVersion("trainer.kubeflow.org/v1alpha1")
                .withResources(
                    new APIResourceBuilder()
                        .withName("trainjobs")
                        .withKind("TrainJob")
                        .withNamespaced(true)
                        .build())
                .build())
        .always();
    server.expect().get().withPath("/apis/kubeflow.org/v2beta1").andReturn(404, "").always();
    assertThat(cluster.servedKind()).isSameAs(JobKind.TRAINJOB);
  }

  @Test
  void aClusterThatServesNeitherGetsTheMpiJobWhoseSubmissionNamesWhatIsMissing() {
    server
        .expect()
        .get()
        .withPath("/apis/trainer.kubeflow.org/v1alpha1")
        .andReturn(404, "")
        .always();
    server.expect().get().withPath("/apis/kubeflow.org/v2beta1").andReturn(404, "").always();
    assertThat(cluster.servedKind()).isSameAs(JobKind.MPIJOB);
  }

  @Test
  void submitStatusLauncherStopAndCleanupOfATrainJob() {
    assertThat(RunObjects.train(JobKind.TRAINJOB, job, Jobs.CONFIG).submitTo(cluster))
        .containsExactly(
            "Secret default/brown-tiny-job created",
            "ConfigMap default/brown-tiny-config created",
            "TrainingRuntime default/brown-tiny created",
            "TrainJob default/brown-tiny created");
    JobStatus pending = cluster.status("brown-tiny");
    assertThat(pending.kind()).isEqualTo("TrainJob");
    assertThat(pending.state()).isEqualTo("Pending");
    assertThatThrownBy(() -> cluster.launcherPod("brown-tiny"))
        .hasMessage(
            "TrainJob default/brown-tiny has no launcher pod yet (cria k8s status brown-tiny shows"
                + " its pods)");

    // Trainer v2 sets no Created or Running condition: running pods say the job runs
    jobSetMakesPods("brown-tiny", "Pending");
    assertThat(cluster.status("brown-tiny").state()).isEqualTo("Pending");
    jobSetMakesPods("brown-tiny", "Running");
    jobSetMakesPods("brown-tiny-compile", "Succeeded"); // the compile job's are not this job's
    JobStatus running = cluster.status("brown-tiny");
    assertThat(running.state()).isEqualTo("Running");
    assertThat(running.pods())
        .extracting(p -> p.name() + " " + p.role() + " " + p.phase())
        .containsExactly(
            "brown-tiny-launcher-0-0-x7k2p launcher Running",
            "brown-tiny-node-0-0-q0zz worker Running",
            "brown-tiny-node-0-1-q1zz worker Running");
    assertThat(running.runningWorker()).isPresent();
    assertThat(cluster.launcherPod("brown-tiny")).isEqualTo("brown-tiny-launcher-0-0-x7k2p");
    assertThatThrownBy(() -> RunObjects.train(JobKind.TRAINJOB, job, Jobs.CONFIG).submitTo(cluster))
        .hasMessage(
            "TrainJob default/brown-tiny already exists (Running): stop it first with cria k8s"
                + " stop brown-tiny");

    trainerSays("Complete"); // Trainer's word for what the MPI Operator calls Succeeded
    JobStatus done = cluster.status("brown-tiny");
    assertThat(done.state()).isEqualTo("Succeeded");
    assertThat(done.ended()).isTrue();

    assertThat(cluster.stop("brown-tiny", Duration.ofSeconds(10)))
        .containsExactly(
            "TrainJob default/brown-tiny",
            "TrainingRuntime default/brown-tiny",
            "pod default/brown-tiny-compile-launcher-0-0-x7k2p",
            "pod default/brown-tiny-compile-node-0-0-q0zz",
            "pod default/brown-tiny-compile-node-0-1-q1zz",
            "pod default/brown-tiny-launcher-0-0-x7k2p",
            "pod default/brown-tiny-node-0-0-q0zz",
            "pod default/brown-tiny-node-0-1-q1zz");
    assertThat(client.pods().inNamespace("default").list().getItems()).isEmpty();
    assertThatThrownBy(() -> cluster.status("brown-tiny"))
        .hasMessage("no MPIJob or TrainJob default/brown-tiny exists (cria k8s submit makes it)");

    // a compile job left behind goes with the cleanup, its runtime too; the job secret as well
    RunObjects.compile(JobKind.TRAINJOB, job, Jobs.CONFIG).submitTo(cluster);
    assertThat(cluster.cleanup("brown-tiny"))
        .containsExactlyInAnyOrder(
            "TrainJob default/brown-tiny-compile",
            "TrainingRuntime default/brown-tiny-compile",
            "ConfigMap default/brown-tiny-config",
            "Secret default/brown-tiny-job");
    assertThat(
            client
                .genericKubernetesResources(JobKind.TRAINJOB.companions().getFirst())
                .inNamespace("default")
                .list()
                .getItems())
        .isEmpty();
  }
}
