package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A run submitted to a Kueue LocalQueue ({@code --queue}): each job carries Kueue's queue label and
 * is created suspended (Kueue unsuspends it once admitted), as Kueue's integrations of the MPIJob
 * and the TrainJob expect; without a queue nothing of this appears.
 */
class KueueTest {
  private static ClusterJob queued(String queue) {
    return Jobs.renamed(Jobs.small(), Jobs.small().name(), queue);
  }

  private static JsonNode json(GenericKubernetesResource o) {
    return JsonMapper.builder().build().readTree(Serialization.asJson(o));
  }

  private static JsonNode job(JobKind kind, ClusterJob job, boolean train) {
    List<GenericKubernetesResource> objects = train ? kind.train(job) : kind.compile(job);
    return json(objects.getLast()); // the job itself comes last
  }

  @Test
  void aQueuedJobOfEitherKindCarriesTheQueueLabelAndStartsSuspended() {
    for (boolean train : List.of(true, false)) {
      JsonNode mpiJob = job(JobKind.MPIJOB, queued("training-queue"), train);
      assertThat(mpiJob.path("metadata").path("labels").path(ClusterJob.QUEUE).asString())
          .isEqualTo("training-queue");
      assertThat(mpiJob.path("spec").path("runPolicy").path("suspend").asBoolean()).isTrue();
      JsonNode trainJob = job(JobKind.TRAINJOB, queued("training-queue"), train);
      assertThat(trainJob.path("kind").asString()).isEqualTo("TrainJob");
      assertThat(trainJob.path("metadata").path("labels").path(ClusterJob.QUEUE).asString())
          .isEqualTo("training-queue");
      assertThat(trainJob.path("spec").path("suspend").asBoolean()).isTrue();
      // the runtime is no workload of Kueue's: no label, nothing suspended
      JsonNode runtime = json(JobKind.TRAINJOB.train(queued("training-queue")).getFirst());
      assertThat(runtime.path("metadata").path("labels").has(ClusterJob.QUEUE)).isFalse();
    }
  }

  @Test
  void withoutAQueueNothingIsSuspendedOrLabelled() {
    for (JobKind kind : JobKind.all()) {
      JsonNode j = job(kind, Jobs.small(), true);
      assertThat(j.path("metadata").path("labels").has(ClusterJob.QUEUE)).isFalse();
      assertThat(j.path("spec").has("suspend")).isFalse();
      assertThat(j.path("spec").path("runPolicy").has("suspend")).isFalse();
    }
  }

  @Test
  void queuedJobsAreValidAgainstTheOperatorsCrdSchemas() throws IOException {
    Path shared = Path.of(System.getProperty("cria.shared", "../../shared")).resolve("data");
    Path mpiCrd = shared.resolve("mpi-operator/kubeflow.org_mpijobs.yaml");
    Path trainJobCrd = shared.resolve("kubeflow-trainer/trainer.kubeflow.org_trainjobs.yaml");
    assumeTrue(
        Files.isRegularFile(mpiCrd) && Files.isRegularFile(trainJobCrd),
        "skipped: the MPIJob and TrainJob CRDs are not in " + shared);
    JsonNode mpiSchema = CrdSchemas.schemaNode(mpiCrd, "v2beta1");
    JsonNode trainJobSchema = CrdSchemas.schemaNode(trainJobCrd, "v1alpha1");
    JsonNode mpiJob = job(JobKind.MPIJOB, queued("training-queue"), true);
    JsonNode trainJob = job(JobKind.TRAINJOB, queued("training-queue"), true);
    assertThat(CrdSchemas.schema(mpiSchema).validate(mpiJob)).isEmpty();
    assertThat(CrdSchemas.undeclared(mpiSchema, mpiJob, "")).isEmpty();
    assertThat(CrdSchemas.schema(trainJobSchema).validate(trainJob)).isEmpty();
    assertThat(CrdSchemas.undeclared(trainJobSchema, trainJob, "")).isEmpty();
  }

  @Test
  void aQueueThatIsNoLocalQueueNameIsRefusedNamingTheFlag() {
    assertThatThrownBy(() -> queued("Training Queue"))
        .hasMessage("--queue 'Training Queue' is not a LocalQueue's name (a DNS label)");
  }

  @Test
  void statusTellsWhyKueueHoldsAQueuedJobBack() {
    io.fabric8.kubernetes.client.server.mock.KubernetesMockServer server =
        MockApiServers.start(
            List.of(
                crd("kubeflow.org", "v2beta1", "MPIJob", "mpijobs"),
                crd("kueue.x-k8s.io", "v1beta1", "Workload", "workloads")));
    try (io.fabric8.kubernetes.client.KubernetesClient client = server.createClient()) {
      Cluster cluster = new Cluster(client, "default");
      ClusterJob job = queued("training-queue");
      cluster.submit(
          List.<io.fabric8.kubernetes.api.model.HasMetadata>copyOf(JobKind.MPIJOB.train(job)));
      var mpiJobs =
          client.genericKubernetesResources(JobKind.MPIJOB.resource()).inNamespace("default");
      GenericKubernetesResource submitted = mpiJobs.withName(job.name()).get();
      String uid = submitted.getMetadata().getUid();
      if (uid == null) { // the API server gives every object one; the mock may not
        uid = "0b9f6f0e-5c1d-4e55-9a43-7d1f1a2b3c4d";
        submitted.getMetadata().setUid(uid);
        mpiJobs.resource(submitted).update();
      }
      assertThat(cluster.queued(job.name()))
          .contains(
              "queued for LocalQueue training-queue: Kueue has made no Workload for it yet (is the"
                  + " LocalQueue there?)");
      var workload =
          new io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder()
              .withApiVersion("kueue.x-k8s.io/v1beta1")
              .withKind("Workload")
              .withNewMetadata()
              .withName("mpijob-brown-tiny-3f2a1")
              .withNamespace("default")
              .withLabels(java.util.Map.of(KueueWorkloads.JOB_UID, uid))
              .endMetadata()
              .build();
      workload.setAdditionalProperty(
          "status",
          java.util.Map.of(
              "conditions",
              List.of(
                  java.util.Map.of(
                      "type", "QuotaReserved",
                      "status", "False",
                      "reason", "Pending",
                      "message",
                          "couldn't assign flavors to pod set Worker: insufficient quota for cpu"
                              + " in flavor default-flavor, 4 more needed"))));
      var workloads =
          client.genericKubernetesResources(KueueWorkloads.WORKLOADS).inNamespace("default");
      workloads.resource(workload).create();
      assertThat(cluster.queued(job.name()))
          .contains(
              "queued in LocalQueue training-queue (Workload mpijob-brown-tiny-3f2a1): couldn't"
                  + " assign flavors to pod set Worker: insufficient quota for cpu in flavor"
                  + " default-flavor, 4 more needed");
      workload.setAdditionalProperty(
          "status",
          java.util.Map.of(
              "conditions", List.of(java.util.Map.of("type", "Admitted", "status", "True"))));
      workloads.resource(workload).update();
      assertThat(cluster.queued(job.name()))
          .contains("admitted by Kueue (Workload mpijob-brown-tiny-3f2a1): its pods start");
      // a job without a queue: nothing to say
      cluster.stop(job.name(), java.time.Duration.ofSeconds(5));
      cluster.submit(
          List.<io.fabric8.kubernetes.api.model.HasMetadata>copyOf(
              JobKind.MPIJOB.train(Jobs.small())));
      assertThat(cluster.queued(job.name())).isEmpty();
    } finally {
      server.destroy();
    }
  }

  private static io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext crd(
      String group, String version, String kind, String plural) {
    return new io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext.Builder()
        .withGroup(group)
        .withVersion(version)
        .withKind(kind)
        .withPlural(plural)
        .withScope("Namespaced")
        .build();
  }
}
