package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.networknt.schema.Schema;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The training and compile jobs as Kubeflow Trainer v2 runs them: a TrainingRuntime with an MPI
 * policy carrying cria's pods and a TrainJob on it, checked against Trainer's own CRD schemas (as
 * the API server validates and prunes) and for what they mean, read back as plain data.
 */
class TrainJobManifestsTest {
  static final Path CRDS =
      Path.of(System.getProperty("cria.shared", "../../shared")).resolve("data/kubeflow-trainer");

  private static ClusterJob job(String which) {
    return which.equals("small") ? Jobs.small() : Jobs.blueprint();
  }

  private static JsonNode json(HasMetadata o) {
    return JsonMapper.builder().build().readTree(Serialization.asJson(o));
  }

  private static JsonNode find(List<GenericKubernetesResource> objects, String kind) {
    return objects.stream()
        .filter(o -> o.getKind().equals(kind))
        .map(TrainJobManifestsTest::json)
        .findFirst()
        .orElseThrow();
  }

  private static JsonNode replicatedJob(JsonNode runtime, String name) {
    for (JsonNode r : runtime.path("spec").path("template").path("spec").path("replicatedJobs")) {
      if (r.path("name").asString().equals(name)) {
        return r;
      }
    }
    throw new AssertionError("no replicated job " + name);
  }

  private static JsonNode container(JsonNode replicatedJob) {
    JsonNode pod = replicatedJob.path("template").path("spec").path("template").path("spec");
    assertThat(pod.path("containers")).hasSize(1);
    return pod.path("containers").get(0);
  }

  @Test
  void aSmallJobRendersAsItsGoldenManifests() throws IOException {
    List<HasMetadata> all = new ArrayList<>();
    all.addAll(JobKind.TRAINJOB.train(Jobs.small()));
    all.addAll(JobKind.TRAINJOB.compile(Jobs.small()));
    String actual = Manifests.toYaml(all);
    Path kept = Path.of("target", "rendered-trainjob-small.yaml");
    Files.createDirectories(kept.getParent());
    Files.writeString(kept, actual);
    try (InputStream in = getClass().getResourceAsStream("trainjob-small.yaml")) {
      assertThat(in).as("golden file trainjob-small.yaml").isNotNull();
      assertThat(actual)
          .as("rendered (kept in " + kept + ")")
          .isEqualTo(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    }
  }

  @Test
  void everyObjectIsValidAgainstTrainersCrdSchemas() throws IOException {
    Path runtimes = CRDS.resolve("trainer.kubeflow.org_trainingruntimes.yaml");
    Path trainJobs = CRDS.resolve("trainer.kubeflow.org_trainjobs.yaml");
    assumeTrue(Files.isRegularFile(runtimes), "skipped: Trainer's CRDs are not in " + CRDS);
    JsonNode runtimeNode = CrdSchemas.schemaNode(runtimes, "v1alpha1");
    JsonNode trainJobNode = CrdSchemas.schemaNode(trainJobs, "v1alpha1");
    Schema runtimeSchema = CrdSchemas.schema(runtimeNode);
    Schema trainJobSchema = CrdSchemas.schema(trainJobNode);
    int checked = 0;
    for (ClusterJob job : List.of(Jobs.small(), Jobs.blueprint())) {
      for (List<GenericKubernetesResource> objects :
          List.of(JobKind.TRAINJOB.train(job), JobKind.TRAINJOB.compile(job))) {
        JsonNode runtime = find(objects, "TrainingRuntime");
        JsonNode trainJob = find(objects, "TrainJob");
        String name = trainJob.path("metadata").path("name").asString();
        assertThat(runtimeSchema.validate(runtime)).as(name).isEmpty();
        assertThat(CrdSchemas.undeclared(runtimeNode, runtime, "")).as(name).isEmpty();
        assertThat(trainJobSchema.validate(trainJob)).as(name).isEmpty();
        assertThat(CrdSchemas.undeclared(trainJobNode, trainJob, "")).as(name).isEmpty();
        checked += 2;
      }
    }
    assertThat(checked).isEqualTo(8);
    // and the check can fail: a misspelt field and a value outside an enum are caught
    JsonNode bad =
        JsonMapper.builder()
            .build()
            .readTree(
                Serialization.asJson(JobKind.TRAINJOB.train(Jobs.small()).getFirst())
                    .replace("\"runLauncherAsNode\":false", "\"runLauncherAsNodes\":false")
                    .replace("\"status\":\"Ready\"", "\"status\":\"Started\""));
    assertThat(CrdSchemas.undeclared(runtimeNode, bad, ""))
        .containsExactly(".spec.mlPolicy.mpi.runLauncherAsNodes");
    assertThat(runtimeSchema.validate(bad)).isNotEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"small", "blueprint"})
  void theTrainJobRunsOneRankPerSlotOfEveryNodeWithRankZeroOnTheFirstNode(String which) {
    ClusterJob job = job(which);
    List<GenericKubernetesResource> objects = JobKind.TRAINJOB.train(job);
    assertThat(objects)
        .extracting(HasMetadata::getKind)
        .containsExactly("TrainingRuntime", "TrainJob");
    JsonNode runtime = find(objects, "TrainingRuntime");
    JsonNode trainJob = find(objects, "TrainJob");
    // the TrainJob runs on this runtime, with the workers as nodes and the slots per node
    JsonNode ref = trainJob.path("spec").path("runtimeRef");
    assertThat(ref.path("kind").asString()).isEqualTo("TrainingRuntime");
    assertThat(ref.path("name").asString())
        .isEqualTo(runtime.path("metadata").path("name").asString());
    assertThat(trainJob.path("spec").path("trainer").path("numNodes").asInt())
        .isEqualTo(job.workers());
    assertThat(trainJob.path("spec").path("trainer").path("numProcPerNode").asInt())
        .isEqualTo(job.procsPerWorker());
    JsonNode mpi = runtime.path("spec").path("mlPolicy").path("mpi");
    assertThat(mpi.path("mpiImplementation").asString()).isEqualTo("OpenMPI");
    assertThat(mpi.path("numProcPerNode").asInt()).isEqualTo(job.procsPerWorker());
    assertThat(mpi.path("runLauncherAsNode").asBoolean()).isFalse(); // no rank on the launcher
    assertThat(mpi.path("sshAuthMountPath").asString()).isEqualTo("/root/.ssh");
    // the launcher starts once every node's sshd is ready, and the job succeeds with it
    JsonNode launcher = replicatedJob(runtime, "launcher");
    assertThat(launcher.path("dependsOn").get(0).path("name").asString()).isEqualTo("node");
    assertThat(launcher.path("dependsOn").get(0).path("status").asString()).isEqualTo("Ready");
    JsonNode jobSet = runtime.path("spec").path("template").path("spec");
    assertThat(jobSet.path("successPolicy").path("targetReplicatedJobs").get(0).asString())
        .isEqualTo("launcher");
    assertThat(jobSet.path("failurePolicy").path("maxRestarts").asInt())
        .isEqualTo(job.backoffLimit());
    assertThat(
            launcher
                .path("template")
                .path("metadata")
                .path("labels")
                .path(TrainJobKind.ANCESTOR)
                .asString())
        .isEqualTo("trainer");
    JsonNode node = container(replicatedJob(runtime, "node"));
    assertThat(node.path("readinessProbe").path("tcpSocket").path("port").asInt()).isEqualTo(22);
    assertThat(node.path("command").get(2).asString()).contains("sshd -De");
    // Trainer mounts the keys and the hostfile into the containers named node
    assertThat(container(launcher).path("name").asString()).isEqualTo("node");
    assertThat(node.path("name").asString()).isEqualTo("node");
    String script = container(launcher).path("command").get(2).asString();
    assertThat(script)
        .startsWith("cria k8s wait-workers --timeout 600 && exec mpirun")
        .contains(" -np " + job.worldSize() + " ")
        .contains(
            "CRIA_MASTER_ADDR="
                + job.name()
                + "-node-0-0."
                + job.name()
                + "."
                + job.namespace()
                + ".svc ")
        .contains("CRIA_WORKER_HOSTS=" + job.workers() + " ")
        .endsWith("cria worker --config /etc/cria/config.yaml");
    // the workers get the extended resources; the launcher none
    for (var r : job.resources().entrySet()) {
      assertThat(node.path("resources").path("limits").path(r.getKey()).asString())
          .isEqualTo(r.getValue());
    }
    assertThat(container(launcher).path("resources").path("limits").isMissingNode()).isTrue();
  }

  /**
   * The launcher's script as {@code sh} runs it, with a {@code cria} and an {@code mpirun} on PATH
   * that print their arguments: Trainer's status variables reach the ranks ({@code -x}) where the
   * pod has them, and nothing of them otherwise.
   */
  @Test
  void theLauncherPassesTrainersStatusVariablesToTheRanksWhenThePodHasThem(
      @org.junit.jupiter.api.io.TempDir Path bin) throws Exception {
    Files.writeString(bin.resolve("cria"), "#!/bin/sh\necho \"cria $*\"\n");
    Files.writeString(bin.resolve("mpirun"), "#!/bin/sh\necho \"mpirun $*\"\n");
    for (String tool : List.of("cria", "mpirun")) {
      bin.resolve(tool).toFile().setExecutable(true);
    }
    JsonNode runtime = find(JobKind.TRAINJOB.train(Jobs.small()), "TrainingRuntime");
    String script = container(replicatedJob(runtime, "launcher")).path("command").get(2).asString();

    String without = sh(bin, script, java.util.Map.of());
    assertThat(without).contains("mpirun --allow-run-as-root").doesNotContain("KUBEFLOW");
    String with =
        sh(
            bin,
            script,
            java.util.Map.of(
                "KUBEFLOW_TRAINER_SERVER_URL", "https://trainer.kubeflow:8082/x",
                "KUBEFLOW_TRAINER_SERVER_CA_CERT", "/var/run/secrets/kubeflow/trainer/ca.crt",
                "KUBEFLOW_TRAINER_SERVER_TOKEN", "/var/run/secrets/kubeflow/trainer/token"));
    assertThat(with)
        .contains(
            " -x KUBEFLOW_TRAINER_SERVER_URL -x KUBEFLOW_TRAINER_SERVER_CA_CERT"
                + " -x KUBEFLOW_TRAINER_SERVER_TOKEN cria worker --config /etc/cria/config.yaml");
    // the MPIJob's launcher is left as it was: the MPI Operator has no such feature
    assertThat(Manifests.toYaml(new ArrayList<>(JobKind.MPIJOB.train(Jobs.small()))))
        .doesNotContain("KUBEFLOW");
  }

  private static String sh(Path bin, String script, java.util.Map<String, String> env)
      throws Exception {
    ProcessBuilder pb = new ProcessBuilder("sh", "-c", script).redirectErrorStream(true);
    pb.environment().keySet().removeIf(k -> k.startsWith("KUBEFLOW_"));
    pb.environment().putAll(env);
    pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(out).isZero();
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"small", "blueprint"})
  void everyPodMountsTheSharedClaimAndTheConfigAndOnlyTheTrainingJobTheSecret(String which) {
    ClusterJob job = job(which);
    for (boolean train : List.of(true, false)) {
      JsonNode runtime =
          find(
              train ? JobKind.TRAINJOB.train(job) : JobKind.TRAINJOB.compile(job),
              "TrainingRuntime");
      for (String name : List.of("launcher", "node")) {
        JsonNode pod =
            replicatedJob(runtime, name)
                .path("template")
                .path("spec")
                .path("template")
                .path("spec");
        List<String> volumes = new ArrayList<>();
        pod.path("volumes").forEach(v -> volumes.add(v.path("name").asString()));
        assertThat(volumes).contains("shared", "config");
        assertThat(volumes.contains("job-secret")).as(name + " train=" + train).isEqualTo(train);
        assertThat(container(replicatedJob(runtime, name)).path("image").asString())
            .isEqualTo(job.image());
        assertThat(
                pod.path("volumes")
                    .get(0)
                    .path("persistentVolumeClaim")
                    .path("claimName")
                    .asString())
            .isEqualTo(job.sharedPvc());
      }
    }
    JsonNode compile = find(JobKind.TRAINJOB.compile(job), "TrainJob");
    assertThat(compile.path("metadata").path("name").asString()).isEqualTo(job.name() + "-compile");
    assertThat(compile.path("spec").path("trainer").path("numNodes").asInt()).isEqualTo(1);
  }

  @Test
  void aKindIsNamedOnTheCommandLineAndABadOneRefused() {
    assertThat(JobKind.parse("TrainJob")).isSameAs(JobKind.TRAINJOB);
    assertThat(JobKind.parse("mpijob")).isSameAs(JobKind.MPIJOB);
    assertThatThrownBy(() -> JobKind.parse("pytorchjob"))
        .hasMessageContaining("--kind pytorchjob: expected mpijob")
        .hasMessageContaining("trainjob");
  }
}
