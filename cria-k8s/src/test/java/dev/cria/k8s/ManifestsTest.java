package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.dataformat.yaml.YAMLMapper;

class ManifestsTest {
  static final Path CRD =
      Path.of(System.getProperty("cria.shared", "../../shared"))
          .resolve("data/mpi-operator/kubeflow.org_mpijobs.yaml");

  private static List<HasMetadata> all(ClusterJob job) {
    List<HasMetadata> objects = new ArrayList<>();
    objects.add(Manifests.config(job, Jobs.CONFIG));
    objects.add(JobKind.MPIJOB.train(job).getFirst());
    objects.add(JobKind.MPIJOB.compile(job).getFirst());
    objects.addAll(Manifests.board(job));
    return objects;
  }

  private static String golden(String name) throws IOException {
    try (InputStream in = ManifestsTest.class.getResourceAsStream(name)) {
      assertThat(in).as("golden file " + name).isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** Compares with the golden file; the rendering is kept in target/ to update it by hand. */
  private static void assertGolden(String name, String actual) throws IOException {
    Path kept = Path.of("target", "rendered-" + name);
    Files.createDirectories(kept.getParent());
    Files.writeString(kept, actual);
    assertThat(actual).as("rendered (kept in " + kept + ")").isEqualTo(golden(name));
  }

  @Test
  void aSmallJobRendersAsItsGoldenManifests() throws IOException {
    assertGolden("small.yaml", Manifests.toYaml(all(Jobs.small())));
  }

  @Test
  void theBlueprintsShapeRendersAsItsGoldenManifests() throws IOException {
    assertGolden("blueprint.yaml", Manifests.toYaml(all(Jobs.blueprint())));
  }

  @Test
  void theTrainingLauncherWaitsForItsWorkersThenRunsMpirunOnEverySlot() {
    Map<String, Object> launcher =
        replica(JobKind.MPIJOB.train(Jobs.blueprint()).getFirst(), "Launcher");
    String script = String.join(" ", container(launcher).getCommand());
    assertThat(script)
        .startsWith("/bin/sh -c cria k8s wait-workers --timeout 600 && exec mpirun")
        .contains("-np 128 -bind-to none -map-by slot")
        .contains("-x CRIA_MASTER_ADDR=test-mpi-train-worker-0.test-mpi-train.default.svc")
        .endsWith("cria worker --config /etc/cria/config.yaml");
    Map<String, Object> spec = spec(JobKind.MPIJOB.train(Jobs.blueprint()).getFirst());
    assertThat(spec)
        .containsEntry("slotsPerWorker", 32)
        .containsEntry("launcherCreationPolicy", "WaitForWorkersReady")
        .containsEntry("runPolicy", Map.of("cleanPodPolicy", "Running", "backoffLimit", 20));
    var worker = container(replica(JobKind.MPIJOB.train(Jobs.blueprint()).getFirst(), "Worker"));
    assertThat(worker.getResources().getLimits())
        .containsOnlyKeys("aws.amazon.com/neuron", "vpc.amazonaws.com/efa");
    assertThat(worker.getResources().getLimits().get("aws.amazon.com/neuron").toString())
        .isEqualTo("16");
    assertThat(worker.getCommand())
        .containsExactly("/bin/sh", "-c", "ssh-keygen -A -q; exec /usr/sbin/sshd -De");
  }

  @Test
  void everyObjectCarriesTheManagedByLabelAndTheRunsName() {
    for (HasMetadata o : all(Jobs.small())) {
      assertThat(o.getMetadata().getLabels())
          .as(o.getKind() + " " + o.getMetadata().getName())
          .containsEntry("app.kubernetes.io/managed-by", "cria")
          .containsEntry("cria.dev/run", "brown-tiny");
    }
    Secret secret = Manifests.boardSecret(Jobs.small(), "pw");
    assertThat(secret.getMetadata().getLabels()).containsEntry("cria.dev/run", "brown-tiny");
    // the password is in no rendered manifest
    assertThat(Manifests.toYaml(all(Jobs.small())))
        .doesNotContain("stringData")
        .contains("kind: \"Service\"");
  }

  @Test
  void everyCoreObjectRoundTripsThroughFabric8sModelWithNothingUnknown() throws Exception {
    ClusterJob job = Jobs.blueprint();
    List<Object> typed = new ArrayList<>();
    for (HasMetadata o : all(job)) {
      String yaml = Serialization.asYaml(o);
      Class<?> type =
          switch (o.getKind()) {
            case "ConfigMap" -> ConfigMap.class;
            case "Deployment" -> Deployment.class;
            case "Service" -> Service.class;
            case "MPIJob" -> GenericKubernetesResource.class;
            default -> throw new AssertionError(o.getKind());
          };
      Object back = Serialization.unmarshal(yaml, type);
      assertThat(Serialization.asYaml(back)).isEqualTo(yaml);
      if (back instanceof GenericKubernetesResource mpiJob) {
        for (String role : List.of("Launcher", "Worker")) {
          Object template = replica(mpiJob, role).get("template");
          typed.add(Serialization.jsonMapper().convertValue(template, PodTemplateSpec.class));
        }
      } else {
        typed.add(back);
      }
    }
    Secret secret = Manifests.boardSecret(job, "pw");
    typed.add(Serialization.unmarshal(Serialization.asYaml(secret), Secret.class));
    for (Object o : typed) {
      assertThat(unknownFields(o, o.getClass().getSimpleName())).isEmpty();
    }
  }

  /** The paths of every field fabric8's model did not know (kept in additionalProperties). */
  private static List<String> unknownFields(Object o, String path) throws Exception {
    List<String> out = new ArrayList<>();
    if (o == null || !o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
      if (o instanceof Collection<?> list) {
        int i = 0;
        for (Object item : list) {
          out.addAll(unknownFields(item, path + "[" + i++ + "]"));
        }
      }
      return out;
    }
    for (Method m : o.getClass().getMethods()) {
      if (m.getParameterCount() != 0
          || !m.getName().startsWith("get")
          || m.isBridge()
          || m.getDeclaringClass() == Object.class) {
        continue;
      }
      Object value = m.invoke(o);
      if (m.getName().equals("getAdditionalProperties")) {
        if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
          out.add(path + ": " + extra.keySet());
        }
      } else if (!(o instanceof GenericKubernetesResource)) {
        out.addAll(unknownFields(value, path + "." + m.getName().substring(3)));
      }
    }
    return out;
  }

  @Test
  void everyMpiJobIsValidAgainstTheOperatorsCrdSchema() throws IOException {
    assumeTrue(Files.isRegularFile(CRD), "skipped: the MPIJob CRD is not in " + CRD);
    JsonNode crd = YAMLMapper.builder().build().readTree(CRD.toFile());
    JsonNode schemaNode = null;
    for (JsonNode version : crd.path("spec").path("versions")) {
      if (version.path("name").asString().equals("v2beta1")) {
        schemaNode = version.path("schema").path("openAPIV3Schema");
      }
    }
    assertThat(schemaNode).as("v2beta1 in the CRD").isNotNull();
    Schema schema =
        SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_7).getSchema(schemaNode);
    JsonMapper json = JsonMapper.builder().build();
    for (ClusterJob job : List.of(Jobs.small(), Jobs.blueprint())) {
      for (GenericKubernetesResource mpiJob :
          List.of(JobKind.MPIJOB.train(job).getFirst(), JobKind.MPIJOB.compile(job).getFirst())) {
        JsonNode instance = json.readTree(Serialization.asJson(mpiJob));
        List<Error> errors = schema.validate(instance);
        assertThat(errors).as(mpiJob.getMetadata().getName()).isEmpty();
        // the API server prunes fields its schema does not declare: there must be none
        assertThat(CrdSchemas.undeclared(schemaNode, instance, ""))
            .as(mpiJob.getMetadata().getName())
            .isEmpty();
      }
    }
    // and the check can fail: a misspelt field and a wrong type are caught
    JsonNode bad =
        json.readTree(
            Serialization.asJson(JobKind.MPIJOB.train(Jobs.small()).getFirst())
                .replace("\"slotsPerWorker\":1", "\"slotPerWorker\":1")
                .replace("\"backoffLimit\":20", "\"backoffLimit\":\"twenty\""));
    assertThat(CrdSchemas.undeclared(schemaNode, bad, "")).containsExactly(".spec.slotPerWorker");
    assertThat(schema.validate(bad)).isNotEmpty();
  }

  @Test
  void badClusterFactsAreRefusedNamingTheFlag() {
    assertThatThrownBy(() -> withName("Llama_7B"))
        .hasMessageContaining("--job 'Llama_7B' must be a DNS label");
    assertThatThrownBy(() ->
            new ClusterJob(
                "j",
                "default",
                "img",
                1,
                1,
                Map.of("gpu!", "1"),
                null,
                null,
                "shared",
                "/shared",
                null,
                Map.of(),
                List.of(),
                20,
                29500,
                null))
        .hasMessageContaining("--resource gpu!");
    assertThatThrownBy(() -> PodTemplates.tolerations(List.of("dedicated=ml:Sometimes")))
        .hasMessageContaining("--toleration dedicated=ml:Sometimes");
    assertThat(PodTemplates.tolerations(List.of("dedicated=ml:NoSchedule", "gpu")))
        .extracting(
            t -> t.getKey() + " " + t.getOperator() + " " + t.getValue() + " " + t.getEffect())
        .containsExactly("dedicated Equal ml NoSchedule", "gpu Exists null null");
  }

  @Test
  void aPodsSizeAndPlacementAreCheckedWhenTheJobIsMadeNotWhenKubernetesReadsIt() {
    for (String ok : List.of("2", "500m", "0.5", "64Gi", "512M", "1e3", "1.5Gi")) {
      ClusterJob.requirePlacement(ok, ok, Map.of(), List.of());
    }
    assertThatThrownBy(() -> ClusterJob.requirePlacement("-2", null, Map.of(), List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "--cpu '-2': not a positive Kubernetes quantity such as 2, 500m, 0.5, 64Gi or 512M");
    assertThatThrownBy(() -> ClusterJob.requirePlacement(null, "12QB", Map.of(), List.of()))
        .hasMessageStartingWith("--memory '12QB': not a positive Kubernetes quantity");
    assertThatThrownBy(() -> ClusterJob.requirePlacement("0", null, Map.of(), List.of()))
        .hasMessageStartingWith("--cpu '0': not a positive");
    assertThatThrownBy(
            () -> ClusterJob.requirePlacement(null, null, Map.of("bad key!", "x"), List.of()))
        .hasMessageStartingWith("--node-selector bad key!: not a label key");
    assertThatThrownBy(() -> ClusterJob.requirePlacement(null, null, Map.of(), List.of(":bad")))
        .hasMessage(
            "--toleration :bad: ':bad' is not a taint key such as nvidia.com/gpu"
                + " (KEY[=VALUE][:EFFECT])");
    ClusterJob.requirePlacement(
        null,
        null,
        Map.of("node.kubernetes.io/instance-type", "trn1"),
        List.of("aws.amazon.com/neuron:NoSchedule"));
  }

  @Test
  void anImageAndExtendedResourcesAreCheckedForTheJobAndTheSharedRuntimeAlike() {
    for (String ok :
        List.of(
            "cria:0.1.0",
            "localhost:5000/cria:dev",
            "registry.example.com/team/cria@sha256:"
                + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")) {
      ClusterJob.requireImage("--image", ok);
    }
    for (String bad : List.of("my image:1", "Team/Cria:1", "cria:", "")) {
      assertThatThrownBy(() -> ClusterJob.requireImage("--image", bad))
          .as(bad)
          .hasMessageStartingWith(bad.isEmpty() ? "--image is required" : "--image '" + bad + "'");
    }
    ClusterJob.requireResources(Map.of("nvidia.com/gpu", "8", "aws.amazon.com/neuron", "16"));
    for (String count : List.of("-1", "0", "1.5", "2k")) {
      assertThatThrownBy(() -> ClusterJob.requireResources(Map.of("nvidia.com/gpu", count)))
          .hasMessage(
              "--resource nvidia.com/gpu="
                  + count
                  + ": the count must be a whole number above 0 (extended resources come whole)");
    }
    // the runtime Trainer's TrainJobs run on checks the same flags as the job
    assertThatThrownBy(() ->
            new SharedRuntime(
                new RuntimeRef(false, "cria"),
                "default",
                "cria:0.1.0",
                1,
                Map.of("nvidia.com/gpu", "-1"),
                null,
                null,
                Map.of(),
                List.of(),
                0))
        .hasMessageStartingWith("--resource nvidia.com/gpu=-1: the count must be");
    assertThatThrownBy(() ->
            new SharedRuntime(
                new RuntimeRef(false, "cria"),
                "default",
                "my image",
                1,
                Map.of(),
                null,
                null,
                Map.of(),
                List.of(),
                0))
        .hasMessageStartingWith("--image 'my image': not an image reference");
  }

  private static ClusterJob withName(String name) {
    return Jobs.renamed(Jobs.small(), name, null);
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> spec(GenericKubernetesResource job) {
    return (Map<String, Object>) job.getAdditionalProperties().get("spec");
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> replica(GenericKubernetesResource job, String role) {
    return (Map<String, Object>) ((Map<String, Object>) spec(job).get("mpiReplicaSpecs")).get(role);
  }

  static io.fabric8.kubernetes.api.model.Container container(Map<String, Object> replica) {
    PodTemplateSpec t =
        Serialization.jsonMapper().convertValue(replica.get("template"), PodTemplateSpec.class);
    return t.getSpec().getContainers().getFirst();
  }
}
