package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
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
 * A run's lifecycle against fabric8's mock API server in CRUD mode; the test plays the MPI
 * Operator's part (its pods, the MPIJob's conditions).
 */
class ClusterTest {
  static final CustomResourceDefinitionContext MPIJOB_CRD =
      new CustomResourceDefinitionContext.Builder()
          .withGroup("kubeflow.org")
          .withVersion("v2beta1")
          .withKind("MPIJob")
          .withPlural("mpijobs")
          .withScope("Namespaced")
          .build();

  KubernetesMockServer server;
  KubernetesClient client;
  Cluster cluster;
  final ClusterJob job = Jobs.small();

  @BeforeEach
  void start() {
    server = MockApiServers.start(List.of(MPIJOB_CRD));
    client = server.createClient();
    cluster = new Cluster(client, "default");
  }

  @AfterEach
  void stop() {
    client.close();
    server.destroy();
  }

  private List<HasMetadata> objects() {
    List<HasMetadata> objects = new ArrayList<>();
    objects.add(Manifests.config(job, Jobs.CONFIG));
    objects.add(JobKind.MPIJOB.train(job).getFirst());
    objects.add(Manifests.boardSecret(job, "s3cret-pw"));
    objects.addAll(Manifests.board(job));
    return objects;
  }

  /** What the operator does: a launcher and the workers, in {@code phase}. */
  private void operatorMakesPods(String phase) {
    List<String> names = new ArrayList<>(List.of(job.name() + "-launcher"));
    for (int w = 0; w < job.workers(); w++) {
      names.add(job.name() + "-worker-" + w);
    }
    for (String name : names) {
      Map<String, String> labels = new LinkedHashMap<>(job.labels());
      labels.put(MpiJobKind.ROLE, name.endsWith("launcher") ? "launcher" : "worker");
      Pod pod =
          new PodBuilder()
              .withNewMetadata()
              .withName(name)
              .withNamespace("default")
              .withLabels(labels)
              .endMetadata()
              .withNewSpec()
              .addNewContainer()
              .withName(name.endsWith("launcher") ? "launcher" : "worker")
              .endContainer()
              .endSpec()
              .withNewStatus()
              .withPhase(phase)
              .endStatus()
              .build();
      client.pods().inNamespace("default").resource(pod).createOr(p -> p.update());
    }
  }

  /** What the operator does: a condition on the MPIJob's status. */
  @SuppressWarnings("unchecked")
  private void operatorSays(String type) {
    GenericKubernetesResource current =
        client
            .genericKubernetesResources(JobKind.MPIJOB.resource())
            .inNamespace("default")
            .withName(job.name())
            .get();
    Map<String, Object> status =
        (Map<String, Object>)
            current.getAdditionalProperties().computeIfAbsent("status", k -> new LinkedHashMap<>());
    List<Map<String, Object>> conditions =
        (List<Map<String, Object>>) status.computeIfAbsent("conditions", k -> new ArrayList<>());
    conditions.forEach(c -> c.put("status", "False"));
    conditions.add(
        new LinkedHashMap<>(
            Map.of(
                "type",
                type,
                "status",
                "True",
                "reason",
                "MPIJob" + type,
                "message",
                "MPIJob default/" + job.name() + " is " + type.toLowerCase(),
                "lastTransitionTime",
                "2026-12-04T10:00:00Z")));
    client
        .genericKubernetesResources(JobKind.MPIJOB.resource())
        .inNamespace("default")
        .resource(current)
        .update();
  }

  @Test
  void aServerThatNeverAnsweredIsToldAsSuchWithTheReason() {
    io.fabric8.kubernetes.client.KubernetesClientException noAnswer =
        new io.fabric8.kubernetes.client.KubernetesClientException(
            "Operation: [get]  for kind: [MPIJob]  with name: [j]  in namespace: [default] "
                + " failed.",
            new java.io.IOException(
                "Failed to connect", new java.net.ConnectException("Connection refused")));
    assertThat(Cluster.apiError("MPIJob default/j", noAnswer).getMessage())
        .isEqualTo(
            "MPIJob default/j: the API server did not answer (Connection refused); is a cluster"
                + " configured and reachable (KUBECONFIG, ~/.kube/config)?");
    io.fabric8.kubernetes.client.KubernetesClientException refused =
        new io.fabric8.kubernetes.client.KubernetesClientException(
            new io.fabric8.kubernetes.api.model.StatusBuilder()
                .withCode(403)
                .withMessage("mpijobs is forbidden: User cannot get")
                .build());
    assertThat(Cluster.apiError("MPIJob default/j", refused).getMessage())
        .isEqualTo(
            "MPIJob default/j: the API server said (HTTP 403): mpijobs is forbidden: User cannot"
                + " get");
  }

  @Test
  void submitStatusThroughItsConditionsStopAndCleanupLeavingNothingBehind() {
    assertThat(cluster.submit(objects()))
        .containsExactly(
            "ConfigMap default/brown-tiny-config created",
            "MPIJob default/brown-tiny created",
            "Secret default/brown-tiny-board created",
            "Deployment default/brown-tiny-board created",
            "Service default/brown-tiny-board created");
    assertThat(cluster.status("brown-tiny").state()).isEqualTo("Pending");
    operatorSays("Created");
    operatorMakesPods("Pending");
    JobStatus created = cluster.status("brown-tiny");
    assertThat(created.state()).isEqualTo("Created");
    assertThat(created.pods())
        .extracting(p -> p.name() + " " + p.role() + " " + p.phase())
        .containsExactly(
            "brown-tiny-launcher launcher Pending",
            "brown-tiny-worker-0 worker Pending",
            "brown-tiny-worker-1 worker Pending");
    operatorSays("Running");
    operatorMakesPods("Running");
    JobStatus running = cluster.status("brown-tiny");
    assertThat(running.state()).isEqualTo("Running");
    assertThat(running.conditions())
        .extracting(JobStatus.Condition::type)
        .containsExactly("Created", "Running");
    assertThat(running.ended()).isFalse();
    // a running job is not replaced by a second submission, nor its mounted config changed
    List<HasMetadata> changed = new ArrayList<>(objects());
    changed.set(0, Manifests.config(job, Jobs.CONFIG + "# another config\n"));
    assertThatThrownBy(() -> cluster.submit(changed))
        .hasMessageContaining("already exists (Running)");
    assertThat(
            client
                .configMaps()
                .inNamespace("default")
                .withName("brown-tiny-config")
                .get()
                .getData()
                .get("config.yaml"))
        .isEqualTo(Jobs.CONFIG);
    assertThatThrownBy(() -> cluster.submit(objects()))
        .isInstanceOf(K8sException.class)
        .hasMessage(
            "MPIJob default/brown-tiny already exists (Running): stop it first with cria k8s stop"
                + " brown-tiny");

    List<String> stopped = cluster.stop("brown-tiny", Duration.ofSeconds(10));
    assertThat(stopped)
        .containsExactly(
            "MPIJob default/brown-tiny",
            "pod default/brown-tiny-launcher",
            "pod default/brown-tiny-worker-0",
            "pod default/brown-tiny-worker-1");
    assertThat(client.pods().inNamespace("default").list().getItems()).isEmpty();
    assertThatThrownBy(() -> cluster.status("brown-tiny"))
        .hasMessage("no MPIJob or TrainJob default/brown-tiny exists (cria k8s submit makes it)");

    // something of the user's, without cria's label, survives the cleanup
    client
        .configMaps()
        .inNamespace("default")
        .resource(
            new ConfigMapBuilder()
                .withNewMetadata()
                .withName("notes")
                .endMetadata()
                .addToData("todo", "keep me")
                .build())
        .create();
    assertThat(cluster.cleanup("brown-tiny"))
        .containsExactlyInAnyOrder(
            "Deployment default/brown-tiny-board",
            "Service default/brown-tiny-board",
            "ConfigMap default/brown-tiny-config",
            "Secret default/brown-tiny-board");
    assertThat(client.configMaps().inNamespace("default").list().getItems())
        .extracting(c -> c.getMetadata().getName())
        .containsExactly("notes");
    for (var list :
        List.of(
            client
                .secrets()
                .inNamespace("default")
                .withLabel(ClusterJob.MANAGED_BY)
                .list()
                .getItems(),
            client
                .services()
                .inNamespace("default")
                .withLabel(ClusterJob.MANAGED_BY)
                .list()
                .getItems(),
            client
                .apps()
                .deployments()
                .inNamespace("default")
                .withLabel(ClusterJob.MANAGED_BY)
                .list()
                .getItems())) {
      assertThat(list).isEmpty();
    }
  }

  @Test
  void theTrainingJobGetsAJobSecretThatNoManifestShowsAndAResubmissionKeeps() {
    RunObjects train = RunObjects.train(JobKind.MPIJOB, job, Jobs.CONFIG);
    assertThat(train.yaml())
        .contains("kubectl create secret generic brown-tiny-job --from-file=secret=FILE")
        .contains("CRIA_JOB_SECRET_FILE=/etc/cria-job/secret")
        .doesNotContain("stringData");
    assertThat(train.submitTo(cluster)).first().isEqualTo("Secret default/brown-tiny-job created");
    // the mock API server keeps stringData as given (a real one encodes it into data)
    String secret =
        client
            .secrets()
            .inNamespace("default")
            .withName("brown-tiny-job")
            .get()
            .getStringData()
            .get("secret");
    assertThat(secret).matches("[0-9a-f]{64}");
    operatorSays("Created");
    operatorSays("Failed");
    assertThat(RunObjects.train(JobKind.MPIJOB, job, Jobs.CONFIG).submitTo(cluster))
        .contains("MPIJob default/brown-tiny created")
        .doesNotContain("Secret default/brown-tiny-job created");
    assertThat(
            client
                .secrets()
                .inNamespace("default")
                .withName("brown-tiny-job")
                .get()
                .getStringData())
        .containsEntry("secret", secret);
  }

  @Test
  void aFailedJobsConditionIsReportedAndAResubmissionReplacesItToResumeTheRun() {
    cluster.submit(objects());
    operatorSays("Created");
    operatorSays("Running");
    operatorSays("Failed");
    JobStatus failed = cluster.status("brown-tiny");
    assertThat(failed.state()).isEqualTo("Failed");
    assertThat(failed.ended()).isTrue();
    assertThat(failed.conditions().getLast().message())
        .isEqualTo("MPIJob default/brown-tiny is failed");
    // the run's finished prepare pods are no pods of its training job: they neither show in its
    // status nor hold up its replacement
    client
        .pods()
        .inNamespace("default")
        .resource(
            new PodBuilder()
                .withNewMetadata()
                .withName("brown-tiny-prepare-0-abcde")
                .withLabels(
                    Map.of(
                        ClusterJob.RUN, "brown-tiny",
                        BatchJobs.JOB_NAME, "brown-tiny-prepare",
                        BatchJobs.INDEX, "0"))
                .endMetadata()
                .withNewStatus()
                .withPhase("Succeeded")
                .endStatus()
                .build())
        .create();
    assertThat(cluster.status("brown-tiny").pods()).isEmpty();
    // the resubmission replaces the ended job; its run directory is the same, named after the job
    assertThat(cluster.submit(objects()))
        .contains(
            "MPIJob default/brown-tiny: the ended job was replaced; the new one resumes its run",
            "MPIJob default/brown-tiny created",
            "Secret default/brown-tiny-board kept (its secret stays)",
            "ConfigMap default/brown-tiny-config updated");
    assertThat(cluster.status("brown-tiny").state()).isEqualTo("Pending");
    assertThat(
            client
                .configMaps()
                .inNamespace("default")
                .withName("brown-tiny-config")
                .get()
                .getData()
                .get("config.yaml"))
        .contains("run_dir: /shared/cria/runs/brown-tiny");
    assertThat(job.runDir()).isEqualTo("/shared/cria/runs/brown-tiny");
  }

  @Test
  void aSucceededJobAndTheLaunchersLogAndTheBoardsAddress() {
    cluster.submit(objects());
    operatorMakesPods("Running");
    operatorSays("Succeeded");
    assertThat(cluster.status("brown-tiny").state()).isEqualTo("Succeeded");
    server
        .expect()
        .get()
        .withPath("/api/v1/namespaces/default/pods/brown-tiny-launcher/log?pretty=false")
        .andReturn(200, "[rank 0] step 1/10 | loss 6.1\n")
        .once();
    assertThat(cluster.log("brown-tiny")).isEqualTo("[rank 0] step 1/10 | loss 6.1\n");
    assertThat(cluster.boardUrl("brown-tiny", false))
        .containsExactly(
            "kubectl port-forward -n default svc/brown-tiny-board 6006:6006",
            "then open http://127.0.0.1:6006/ as user admin",
            "password: cria k8s board-url brown-tiny --password (or kubectl get secret -n default"
                + " brown-tiny-board -o jsonpath='{.data.password}' | base64 -d)");
    assertThat(cluster.boardUrl("brown-tiny", true)).last().isEqualTo("password: s3cret-pw");
  }

  @Test
  void eachRanksStatusIsReadInARunningWorkerPod() throws Exception {
    cluster.submit(objects());
    operatorMakesPods("Running");
    dev.cria.core.run.RankStatus zero =
        new dev.cria.core.run.RankStatus(
            "brown-tiny",
            0,
            2,
            "brown-tiny-worker-0",
            58,
            dev.cria.core.run.RankState.TRAINING,
            120,
            1000,
            5.1,
            1e-3,
            2310,
            0.4,
            0.5,
            0.01,
            1L << 30,
            1L << 28,
            0.9,
            1_000,
            2_000,
            0,
            null,
            null,
            null,
            null,
            5.0);
    dev.cria.core.run.RankStatus one =
        new dev.cria.core.run.RankStatus(
            "brown-tiny",
            1,
            2,
            "brown-tiny-worker-1",
            59,
            dev.cria.core.run.RankState.TRAINING,
            120,
            1000,
            5.1,
            1e-3,
            2290,
            0.4,
            0.5,
            0.02,
            1L << 30,
            1L << 28,
            0.9,
            1_000,
            2_100,
            0,
            null,
            null,
            null,
            null,
            5.0);
    String printed =
        dev.cria.core.run.StatusFiles.toJson(one)
            + "\n"
            + RankStatusReader.STATUS_SEPARATOR
            + "\n"
            + dev.cria.core.run.StatusFiles.toJson(zero)
            + "\n"
            + RankStatusReader.STATUS_SEPARATOR
            + "\n";
    String script = RankStatusReader.statusScript("/shared/cria/runs/brown-tiny");
    server
        .expect()
        .get()
        .withPath(
            "/api/v1/namespaces/default/pods/brown-tiny-worker-0/exec?command=sh"
                + "&command=-c&command="
                + java.net.URLEncoder.encode(script, java.nio.charset.StandardCharsets.UTF_8)
                    .replace("+", "%20")
                + "&container=worker&stdout=true&stderr=true")
        .andUpgradeToWebSocket()
        .open(
            new io.fabric8.kubernetes.client.server.mock.OutputStreamMessage(printed),
            new io.fabric8.kubernetes.client.server.mock.StatusStreamMessage(0))
        .done()
        .always();
    assertThat(cluster.rankStatuses(cluster.status("brown-tiny")))
        .extracting(r -> r.rank() + " " + r.step() + " " + (long) r.tokensPerSec())
        .containsExactly("0 120 2310", "1 120 2290");
    assertThatThrownBy(() -> RankStatusReader.statusScript("/shared/runs/x; rm -rf /"))
        .hasMessageContaining("will not pass to a shell");
  }

  @Test
  void theCompileJobsAndTheBoardsPodsAreNotTheTrainingJobs() {
    cluster.submit(objects());
    operatorMakesPods("Running");
    for (String[] pod :
        new String[][] {
          {"brown-tiny-compile-launcher", "launcher", "brown-tiny-compile", null},
          {"brown-tiny-board-5d8f7-abcde", null, null, "board"}
        }) {
      Map<String, String> labels = new LinkedHashMap<>(job.labels());
      if (pod[1] != null) {
        labels.put(MpiJobKind.ROLE, pod[1]);
        labels.put(MpiJobKind.JOB_NAME, pod[2]);
      } else {
        labels.put("app.kubernetes.io/component", pod[3]);
      }
      client
          .pods()
          .inNamespace("default")
          .resource(
              new PodBuilder()
                  .withNewMetadata()
                  .withName(pod[0])
                  .withNamespace("default")
                  .withLabels(labels)
                  .endMetadata()
                  .withNewStatus()
                  .withPhase("Succeeded")
                  .endStatus()
                  .build())
          .create();
    }
    assertThat(cluster.launcherPod("brown-tiny")).isEqualTo("brown-tiny-launcher");
    assertThat(cluster.status("brown-tiny").pods())
        .extracting(JobStatus.Pod::name)
        .containsExactly("brown-tiny-launcher", "brown-tiny-worker-0", "brown-tiny-worker-1");
    // stop removes the compile job's pods too, never the board's
    client
        .genericKubernetesResources(JobKind.MPIJOB.resource())
        .inNamespace("default")
        .resource(JobKind.MPIJOB.compile(job).getFirst())
        .create();
    assertThat(cluster.stop("brown-tiny", Duration.ofSeconds(10)))
        .contains("MPIJob default/brown-tiny-compile", "pod default/brown-tiny-compile-launcher")
        .noneMatch(line -> line.contains("board"));
  }

  @Test
  void errorsOfTheApiServerComeAsOneLineNamingTheObject() {
    assertThatThrownBy(() -> cluster.launcherPod("nothing"))
        .hasMessage("no MPIJob or TrainJob default/nothing exists (cria k8s submit makes it)");
    assertThatThrownBy(() -> cluster.stop("nothing", Duration.ofSeconds(1)))
        .hasMessage("no MPIJob or TrainJob default/nothing exists: nothing to stop");
    server
        .expect()
        .post()
        .withPath("/api/v1/namespaces/default/configmaps")
        .andReturn(
            403,
            new io.fabric8.kubernetes.api.model.StatusBuilder()
                .withCode(403)
                .withMessage("configmaps is forbidden: User \"dev\" cannot create resource")
                .build())
        .once();
    assertThatThrownBy(() -> cluster.submit(List.of(Manifests.config(job, Jobs.CONFIG))))
        .isInstanceOf(K8sException.class)
        .hasMessage(
            "ConfigMap default/brown-tiny-config: the API server said (HTTP 403): configmaps is"
                + " forbidden: User \"dev\" cannot create resource");
  }
}
