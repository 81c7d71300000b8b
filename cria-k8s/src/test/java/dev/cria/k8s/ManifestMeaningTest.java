package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * What the rendered manifests mean, read back from the YAML as plain data, for the small job and
 * the blueprint's: facts that hold however the golden files are regenerated, so that a regenerated
 * golden file cannot carry a wrong manifest past the tests.
 */
class ManifestMeaningTest {
  private static ClusterJob job(String which) {
    return which.equals("small") ? Jobs.small() : Jobs.blueprint();
  }

  private static List<JsonNode> documents(ClusterJob job) {
    String yaml =
        Manifests.toYaml(
            List.of(
                Manifests.config(job, Jobs.CONFIG),
                JobKind.MPIJOB.train(job).getFirst(),
                JobKind.MPIJOB.compile(job).getFirst()));
    YAMLMapper mapper = YAMLMapper.builder().build();
    List<JsonNode> out = new ArrayList<>();
    for (String doc : yaml.split("(?m)^---$")) {
      if (!doc.isBlank()) {
        out.add(mapper.readTree(doc));
      }
    }
    return out;
  }

  private static List<JsonNode> mpiJobs(ClusterJob job) {
    return documents(job).stream().filter(d -> d.path("kind").asString().equals("MPIJob")).toList();
  }

  /** Every pod template of an MPIJob: its launcher's and its workers'. */
  private static List<JsonNode> pods(JsonNode mpiJob) {
    List<JsonNode> out = new ArrayList<>();
    mpiJob.path("spec").path("mpiReplicaSpecs").forEach(r -> out.add(r.path("template")));
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"small", "blueprint"})
  void theTrainingJobRunsOneRankPerSlotOfEveryWorker(String which) {
    ClusterJob job = job(which);
    JsonNode train =
        mpiJobs(job).stream()
            .filter(j -> j.path("metadata").path("name").asString().equals(job.name()))
            .findFirst()
            .orElseThrow();
    JsonNode spec = train.path("spec");
    assertThat(spec.path("slotsPerWorker").asInt()).isEqualTo(job.procsPerWorker());
    assertThat(spec.path("mpiReplicaSpecs").path("Worker").path("replicas").asInt())
        .isEqualTo(job.workers());
    assertThat(spec.path("mpiReplicaSpecs").path("Launcher").path("replicas").asInt()).isOne();
    String launcher =
        String.join(
            " ",
            spec.path("mpiReplicaSpecs")
                .path("Launcher")
                .path("template")
                .path("spec")
                .path("containers")
                .get(0)
                .path("command")
                .valueStream()
                .map(JsonNode::asString)
                .toList());
    Matcher np = Pattern.compile("mpirun .*-np (\\d+) ").matcher(launcher);
    assertThat(np.find()).as(launcher).isTrue();
    assertThat(Integer.parseInt(np.group(1))).isEqualTo(job.workers() * job.procsPerWorker());
    assertThat(launcher).endsWith("cria worker --config /etc/cria/config.yaml");
    // the ranks learn how many hosts they should be on, to refuse starting all on the launcher
    assertThat(launcher).contains(" -x CRIA_WORKER_HOSTS=" + job.workers() + " ");
  }

  @ParameterizedTest
  @ValueSource(strings = {"small", "blueprint"})
  void everyPodRunsTheImageOnTheSharedClaimAndGetsTheSecretAsAFileOnly(String which) {
    ClusterJob job = job(which);
    List<JsonNode> jobs = mpiJobs(job);
    assertThat(jobs).hasSize(2); // training and compile
    for (JsonNode mpiJob : jobs) {
      assertThat(pods(mpiJob)).hasSize(2); // a launcher and workers
      for (JsonNode pod : pods(mpiJob)) {
        JsonNode spec = pod.path("spec");
        assertThat(spec.path("containers").size()).isPositive();
        assertThat(spec.path("volumes").valueStream())
            .anySatisfy(v ->
                assertThat(v.path("persistentVolumeClaim").path("claimName").asString())
                    .isEqualTo(job.sharedPvc()));
        for (JsonNode c : spec.path("containers")) {
          assertThat(c.path("image").asString()).isEqualTo(job.image());
          assertThat(c.path("volumeMounts").valueStream())
              .anySatisfy(
                  m -> assertThat(m.path("mountPath").asString()).isEqualTo(job.sharedMount()));
          // the job's secret never travels as a value: at most as the name of its file
          for (JsonNode e : c.path("env")) {
            assertThat(e.path("name").asString()).isNotEqualTo("CRIA_JOB_SECRET");
          }
          assertThat(c.path("securityContext").path("privileged").asBoolean(false)).isFalse();
        }
      }
    }
    // and no manifest holds the secret's value itself
    for (JsonNode d : documents(job)) {
      assertThat(d.path("kind").asString()).isNotEqualTo("Secret");
    }
  }
}
