package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.networknt.schema.Schema;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * TrainJobs on a runtime many runs share ({@code --runtime}): the runtime as {@code cria k8s render
 * runtime} writes it and the TrainJob that patches a run into it, both as Trainer v2.3's CRDs
 * accept them (nothing pruned: a field a patch may not carry would be), what they mean read back as
 * data, and submission and stop on a mock API server.
 */
class SharedRuntimeTest {
  private static final Path CRDS = TrainJobManifestsTest.CRDS;
  private static final RuntimeRef SHARED = RuntimeRef.parse("cria-cpu");

  /** The blueprint's job placed as a shared runtime's TrainJob may be: no resources of its own. */
  private static ClusterJob job() {
    ClusterJob b = Jobs.blueprint();
    return new ClusterJob(
        b.name(),
        b.namespace(),
        b.image(),
        b.workers(),
        b.procsPerWorker(),
        Map.of(),
        null,
        null,
        b.sharedPvc(),
        b.sharedMount(),
        b.shmSize(),
        b.nodeSelector(),
        b.tolerations(),
        b.backoffLimit(),
        b.masterPort(),
        null);
  }

  private static SharedRuntime runtime(RuntimeRef ref) {
    ClusterJob b = Jobs.blueprint();
    return new SharedRuntime(
        ref,
        "default",
        b.image(),
        32,
        b.resources(),
        "128",
        "480Gi",
        b.nodeSelector(),
        b.tolerations(),
        20);
  }

  private static JsonNode json(Object o) {
    return JsonMapper.builder().build().readTree(Serialization.asJson(o));
  }

  private static JsonNode trainJob() {
    List<GenericKubernetesResource> objects = JobKind.trainJobOn(SHARED).train(job());
    assertThat(objects)
        .singleElement()
        .extracting(GenericKubernetesResource::getKind)
        .isEqualTo("TrainJob");
    return json(objects.getFirst());
  }

  private static JsonNode patchOf(JsonNode trainJob, String replicatedJob) {
    JsonNode patches = trainJob.at("/spec/runtimePatches");
    assertThat(patches).hasSize(1);
    for (JsonNode r : patches.get(0).at("/trainingRuntimeSpec/template/spec/replicatedJobs")) {
      if (r.path("name").asString().equals(replicatedJob)) {
        return r.at("/template/spec/template");
      }
    }
    throw new AssertionError("no patch for " + replicatedJob);
  }

  @Test
  void theRuntimeAndTheTrainJobOnItAreValidAgainstTrainersCrds() throws IOException {
    JsonNode trainJobs =
        CrdSchemas.schemaNode(CRDS.resolve("trainer.kubeflow.org_trainjobs.yaml"), "v1alpha1");
    JsonNode runtimes =
        CrdSchemas.schemaNode(
            CRDS.resolve("trainer.kubeflow.org_trainingruntimes.yaml"), "v1alpha1");
    JsonNode clusterRuntimes =
        CrdSchemas.schemaNode(
            CRDS.resolve("trainer.kubeflow.org_clustertrainingruntimes.yaml"), "v1alpha1");
    JsonNode trainJob = trainJob();
    Schema schema = CrdSchemas.schema(trainJobs);
    assertThat(schema.validate(trainJob)).isEmpty();
    assertThat(CrdSchemas.undeclared(trainJobs, trainJob, "")).isEmpty();
    JsonNode namespaced = json(runtime(SHARED).toResource());
    assertThat(CrdSchemas.schema(runtimes).validate(namespaced)).isEmpty();
    assertThat(CrdSchemas.undeclared(runtimes, namespaced, "")).isEmpty();
    JsonNode clusterWide =
        json(runtime(RuntimeRef.parse("clustertrainingruntime/cria-trn1")).toResource());
    assertThat(CrdSchemas.schema(clusterRuntimes).validate(clusterWide)).isEmpty();
    assertThat(CrdSchemas.undeclared(clusterRuntimes, clusterWide, "")).isEmpty();
    // the walker catches what a patch may not carry: resources in a patched container are pruned
    JsonNode bad =
        JsonMapper.builder()
            .build()
            .readTree(
                trainJob
                    .toString()
                    .replace("\"volumeMounts\":[", "\"resources\":{},\"volumeMounts\":["));
    assertThat(CrdSchemas.undeclared(trainJobs, bad, ""))
        .contains(
            ".spec.runtimePatches[0].trainingRuntimeSpec.template.spec.replicatedJobs[0]"
                + ".template.spec.template.spec.containers[0].resources");
  }

  @Test
  void theTrainJobSetsTheLauncherAndPatchesTheRunIntoThePods() {
    ClusterJob job = job();
    JsonNode trainJob = trainJob();
    assertThat(trainJob.at("/spec/runtimeRef/kind").asString()).isEqualTo("TrainingRuntime");
    assertThat(trainJob.at("/spec/runtimeRef/name").asString()).isEqualTo("cria-cpu");
    assertThat(trainJob.at("/spec/trainer/numNodes").asInt()).isEqualTo(4);
    assertThat(trainJob.at("/spec/trainer/numProcPerNode").asInt()).isEqualTo(32);
    assertThat(trainJob.at("/spec/trainer/image").asString()).isEqualTo(job.image());
    assertThat(trainJob.at("/spec/trainer/command/2").asString())
        .isEqualTo(
            PodTemplates.trainScript(
                job, JobKind.TRAINJOB.masterHost(job), TrainJobKind.TRAINER_STATUS));
    assertThat(trainJob.at("/spec/runtimePatches/0/manager").asString()).isEqualTo("cria.dev/cria");
    JsonNode node = patchOf(trainJob, "node");
    assertThat(node.at("/metadata/labels/cria.dev~1run").asString()).isEqualTo(job.name());
    assertThat(node.at("/spec/volumes").findValuesAsString("name"))
        .contains("shared", "config", "dshm", "job-secret");
    assertThat(node.at("/spec/volumes/0/persistentVolumeClaim/claimName").asString())
        .isEqualTo("fsx-claim");
    JsonNode mounts = node.at("/spec/containers/0");
    assertThat(mounts.path("name").asString()).isEqualTo("node");
    assertThat(mounts.path("volumeMounts").findValuesAsString("mountPath"))
        .contains("/shared", "/etc/cria", "/dev/shm", "/etc/cria-job");
    assertThat(node.at("/spec/nodeSelector/node.kubernetes.io~1instance-type").asString())
        .isEqualTo("trn1.32xlarge");
    assertThat(node.at("/spec/tolerations/0/key").asString()).isEqualTo("aws.amazon.com/neuron");
    JsonNode launcher = patchOf(trainJob, "launcher");
    assertThat(launcher.at("/spec/volumes").findValuesAsString("name"))
        .contains("shared", "config", "job-secret")
        .doesNotContain("dshm");
    assertThat(launcher.at("/spec/nodeSelector").isMissingNode()).isTrue();
    assertThat(trainJob.toString()).doesNotContain("resources");
  }

  @Test
  void theRuntimeCarriesCriasImageAndTheNodesResourcesAndNoRun() {
    JsonNode r = json(runtime(SHARED).toResource());
    assertThat(r.at("/metadata/labels").properties()).hasSize(1);
    assertThat(r.at("/metadata/labels/app.kubernetes.io~1managed-by").asString()).isEqualTo("cria");
    assertThat(r.at("/metadata/namespace").asString()).isEqualTo("default");
    assertThat(r.at("/spec/mlPolicy/mpi/numProcPerNode").asInt()).isEqualTo(32);
    JsonNode jobs = r.at("/spec/template/spec/replicatedJobs");
    JsonNode node = jobs.get(0).at("/template/spec/template/spec");
    assertThat(jobs.get(0).path("name").asString()).isEqualTo("node");
    assertThat(node.at("/containers/0/image").asString()).isEqualTo(Jobs.blueprint().image());
    assertThat(node.at("/containers/0/resources/limits/aws.amazon.com~1neuron").asString())
        .isEqualTo("16");
    assertThat(node.at("/containers/0/resources/requests/memory").asString()).isEqualTo("480Gi");
    assertThat(node.at("/containers/0/readinessProbe/tcpSocket/port").asInt()).isEqualTo(22);
    assertThat(node.path("volumes").isMissingNode()).isTrue(); // each TrainJob patches its own
    JsonNode launcher = jobs.get(1);
    assertThat(
            launcher
                .at("/template/metadata/labels/" + TrainJobKind.ANCESTOR.replace("/", "~1"))
                .asString())
        .isEqualTo("trainer");
    assertThat(launcher.at("/template/spec/template/spec/containers/0/command/2").asString())
        .contains("submit with cria k8s submit train --kind trainjob --runtime");
    assertThat(
            json(runtime(RuntimeRef.parse("clustertrainingruntime/x")).toResource())
                .at("/metadata/namespace")
                .isMissingNode())
        .isTrue();
  }

  @Test
  void whatASharedRuntimeCannotTakeIsRefusedNamingTheFlag() {
    assertThatThrownBy(() -> JobKind.trainJobOn(SHARED).train(Jobs.blueprint()))
        .hasMessageContaining("drop --resource, --cpu and --memory");
    assertThatThrownBy(() -> JobKind.trainJobOn(RuntimeRef.parse(job().name())).train(job()))
        .hasMessageContaining("cannot have the name of the job's own runtime");
    assertThatThrownBy(() -> JobKind.trainJobOn(SHARED).compile(job()))
        .hasMessageContaining("the compile job runs on its own runtime");
    assertThatThrownBy(() -> RuntimeRef.parse("mpijob/x"))
        .hasMessageContaining("expected NAME, trainingruntime/NAME or clustertrainingruntime/NAME");
    assertThatThrownBy(() -> RuntimeRef.parse("Bad_Name")).hasMessageContaining("DNS label");
    assertThat(RuntimeRef.parse("ClusterTrainingRuntime/a").clusterWide()).isTrue();
    // what a render or submit asks for: nothing decides, a kind, or a TrainJob on the runtime
    assertThat(JobKind.requested(null, null, null)).isNull();
    assertThat(JobKind.requested("MPIJob", null, null)).isSameAs(JobKind.MPIJOB);
    assertThat(JobKind.requested(null, SHARED, null).kind()).isEqualTo("TrainJob");
    assertThatThrownBy(() -> JobKind.requested("mpijob", SHARED, null))
        .hasMessage(
            "--runtime names a Kubeflow Trainer runtime: it needs --kind trainjob, not mpijob");
  }

  @Test
  void submitMakesAMissingNamespacedRuntimeOnceAndStopLeavesIt() {
    KubernetesMockServer server = MockApiServers.start(crds());
    try (KubernetesClient client = server.createClient()) {
      Cluster cluster = new Cluster(client, "default");
      ClusterJob job = job();
      List<String> first =
          RunObjects.train(JobKind.trainJobOn(SHARED), job, Jobs.CONFIG).submitTo(cluster);
      assertThat(first)
          .startsWith(
              "TrainingRuntime default/cria-cpu created (shared by the TrainJobs that name it; stop"
                  + " and cleanup of a run leave it)")
          .contains("TrainJob default/test-mpi-train created");
      GenericKubernetesResource made =
          client
              .genericKubernetesResources(runtimes())
              .inNamespace("default")
              .withName("cria-cpu")
              .get();
      assertThat(
              json(made)
                  .at(
                      "/spec/template/spec/replicatedJobs/0/template/spec/template/spec/containers/0/image")
                  .asString())
          .isEqualTo(job.image());

      assertThat(cluster.stop(job.name(), Duration.ofSeconds(5)))
          .containsExactly("TrainJob default/test-mpi-train");
      assertThat(
              client
                  .genericKubernetesResources(runtimes())
                  .inNamespace("default")
                  .withName("cria-cpu")
                  .get())
          .isNotNull();

      // the next run on it uses it as it is, and says when its nodes run another image
      ClusterJob other = Jobs.renamed(job, "second-run", null);
      ClusterJob newer =
          new ClusterJob(
              other.name(),
              other.namespace(),
              "registry.local/cria:0.2.0",
              other.workers(),
              other.procsPerWorker(),
              Map.of(),
              null,
              null,
              other.sharedPvc(),
              other.sharedMount(),
              other.shmSize(),
              other.nodeSelector(),
              other.tolerations(),
              other.backoffLimit(),
              other.masterPort(),
              null);
      assertThat(RunObjects.train(JobKind.trainJobOn(SHARED), newer, Jobs.CONFIG).submitTo(cluster))
          .startsWith(
              "note: TrainingRuntime cria-cpu runs "
                  + job.image()
                  + " on its nodes; the launcher runs --image registry.local/cria:0.2.0",
              "TrainingRuntime cria-cpu used as it is");
    } finally {
      server.destroy();
    }
  }

  @Test
  void aMissingClusterWideRuntimeIsRefusedWithTheCommandThatMakesIt() {
    KubernetesMockServer server = MockApiServers.start(crds());
    try (KubernetesClient client = server.createClient()) {
      Cluster cluster = new Cluster(client, "default");
      RuntimeRef ref = RuntimeRef.parse("clustertrainingruntime/cria-trn1");
      assertThatThrownBy(
              () -> RunObjects.train(JobKind.trainJobOn(ref), job(), Jobs.CONFIG).submitTo(cluster))
          .hasMessage(
              "there is no ClusterTrainingRuntime cria-trn1 on this cluster: an administrator"
                  + " installs it with cria k8s render runtime --name cria-trn1 --cluster-wide"
                  + " --image "
                  + job().image()
                  + " | kubectl apply -f -");
      assertThat(
              client
                  .genericKubernetesResources(JobKind.TRAINJOB.resource())
                  .inNamespace("default")
                  .list()
                  .getItems())
          .isEmpty();
    } finally {
      server.destroy();
    }
  }

  /** The namespaced runtimes' resource. */
  private static io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext runtimes() {
    return JobKind.TRAINJOB.companions().getFirst();
  }

  private static List<CustomResourceDefinitionContext> crds() {
    List<CustomResourceDefinitionContext> crds = new ArrayList<>();
    crds.add(crd("TrainJob", "trainjobs", "Namespaced"));
    crds.add(crd("TrainingRuntime", "trainingruntimes", "Namespaced"));
    crds.add(crd("ClusterTrainingRuntime", "clustertrainingruntimes", "Cluster"));
    return crds;
  }

  private static CustomResourceDefinitionContext crd(String kind, String plural, String scope) {
    return new CustomResourceDefinitionContext.Builder()
        .withGroup("trainer.kubeflow.org")
        .withVersion("v1alpha1")
        .withKind(kind)
        .withPlural(plural)
        .withScope(scope)
        .build();
  }
}
