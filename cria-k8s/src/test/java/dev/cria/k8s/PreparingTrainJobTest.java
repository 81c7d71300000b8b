package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A TrainJob whose runtime prepares the run's dataset first, as Trainer's initializer steps ({@code
 * --prepare-input}): the steps' order and dependencies, what each runs, the run's data prefix
 * naming the output, all valid against Trainer's CRD (nothing pruned). The scripts themselves run
 * in cria-cli's {@code PrepareJobScriptsTest}.
 */
class PreparingTrainJobTest {
  private static PrepareJob prepare(ClusterJob job) {
    return PrepareJob.forRun(
        job,
        List.of("/shared/data/brown_text_document"),
        "/shared/tok",
        List.of("/shared/corpus/*.jsonl"),
        true,
        3,
        null,
        2);
  }

  private static JsonNode runtime() {
    List<GenericKubernetesResource> objects =
        JobKind.trainJobPreparing(prepare(Jobs.small())).train(Jobs.small());
    return JsonMapper.builder()
        .build()
        .readTree(
            Serialization.asJson(
                objects.stream()
                    .filter(o -> o.getKind().equals("TrainingRuntime"))
                    .findFirst()
                    .orElseThrow()));
  }

  @Test
  void thePartsThenTheMergeThenTheNodesThenTheLauncher() {
    JsonNode jobs = runtime().at("/spec/template/spec/replicatedJobs");
    List<String> names = new ArrayList<>();
    jobs.forEach(j -> names.add(j.path("name").asString()));
    assertThat(names).containsExactly("dataset-initializer", "dataset-merge", "node", "launcher");
    JsonNode parts = jobs.get(0);
    assertThat(parts.path("dependsOn").isMissingNode()).isTrue();
    assertThat(
            parts
                .at("/template/metadata/labels/" + TrainJobKind.ANCESTOR.replace("/", "~1"))
                .asString())
        .isEqualTo("dataset-initializer");
    JsonNode spec = parts.at("/template/spec");
    assertThat(spec.path("completionMode").asString()).isEqualTo("Indexed");
    assertThat(spec.path("completions").asInt()).isEqualTo(3);
    assertThat(spec.path("parallelism").asInt()).isEqualTo(3);
    assertThat(spec.path("backoffLimitPerIndex").asInt()).isEqualTo(2);
    JsonNode pod = spec.at("/template/spec");
    assertThat(pod.path("restartPolicy").asString()).isEqualTo("Never");
    assertThat(pod.at("/containers/0/name").asString()).isEqualTo("dataset-initializer");
    assertThat(pod.at("/containers/0/command/2").asString())
        .startsWith("if [ -f '/shared/data/brown_text_document.idx' ]; then")
        .contains("cria prepare --input '/shared/corpus/*.jsonl' --tokenizer '/shared/tok'")
        .contains("--append-eod", "--part \"$JOB_COMPLETION_INDEX/3\"");
    assertThat(pod.at("/containers/0/resources/limits/cpu").asString()).isEqualTo("2");
    JsonNode merge = jobs.get(1);
    assertThat(merge.at("/dependsOn/0/name").asString()).isEqualTo("dataset-initializer");
    assertThat(merge.at("/dependsOn/0/status").asString()).isEqualTo("Complete");
    assertThat(merge.at("/template/spec/template/spec/containers/0/command/2").asString())
        .startsWith("if [ -f '/shared/data/brown_text_document.idx' ]; then echo 'merge:")
        .contains("--output-prefix '/shared/data/brown_text_document'")
        .doesNotContain("--failures", "--wait"); // JobSet starts it once the parts are complete
    JsonNode nodePod = jobs.get(2).at("/template/spec/template/spec");
    JsonNode status = nodePod.at("/volumes").get(nodePod.at("/volumes").size() - 1);
    assertThat(status.path("name").asString()).isEqualTo("kubeflow-trainer-token");
    assertThat(status.at("/projected/sources/0/serviceAccountToken/audience").asString())
        .isEqualTo("trainer.kubeflow.org/v1alpha1/namespaces/default/trainjobs/brown-tiny/status");
    assertThat(status.at("/projected/sources/1/configMap/name").asString())
        .isEqualTo("brown-tiny-tls-config");
    assertThat(status.at("/projected/sources/1/configMap/optional").asBoolean()).isTrue();
    assertThat(nodePod.at("/containers/0/volumeMounts").findValuesAsString("mountPath"))
        .contains("/var/run/secrets/kubeflow/trainer");
    assertThat(jobs.get(2).at("/dependsOn/0/name").asString()).isEqualTo("dataset-merge");
    assertThat(jobs.get(2).at("/dependsOn/0/status").asString()).isEqualTo("Complete");
    assertThat(jobs.get(3).at("/dependsOn/0/name").asString()).isEqualTo("node");
    // the steps' pods read as the prepare's in cria k8s status
    assertThat(JobKind.TRAINJOB.role(Map.of(TrainJobKind.REPLICATED_JOB, "dataset-initializer")))
        .isEqualTo("prepare");
    assertThat(JobKind.TRAINJOB.role(Map.of(TrainJobKind.REPLICATED_JOB, "dataset-merge")))
        .isEqualTo("merge");
  }

  @Test
  void theRuntimeWithItsStepsIsValidAgainstTrainersCrd() throws IOException {
    JsonNode schema =
        CrdSchemas.schemaNode(
            TrainJobManifestsTest.CRDS.resolve("trainer.kubeflow.org_trainingruntimes.yaml"),
            "v1alpha1");
    JsonNode runtime = runtime();
    assertThat(CrdSchemas.schema(schema).validate(runtime)).isEmpty();
    assertThat(CrdSchemas.undeclared(schema, runtime, "")).isEmpty();
  }

  @Test
  void theRunsOneDataPrefixNamesWhatIsPreparedOrItIsRefused() {
    PrepareJob p = prepare(Jobs.small());
    assertThat(p.outputPrefix()).isEqualTo("/shared/data/brown");
    assertThat(p.jsonKeys()).containsExactly("text");
    // one dataset with its weight is one dataset
    assertThat(
            PrepareJob.forRun(
                    Jobs.small(),
                    List.of("1.0", "/shared/data/brown_text_document"),
                    "/t",
                    List.of("/in"),
                    false,
                    1,
                    null,
                    0)
                .outputPrefix())
        .isEqualTo("/shared/data/brown");
    // the flags named are the train command's
    assertThatThrownBy(() ->
            PrepareJob.forRun(
                Jobs.small(),
                List.of("/shared/data/brown_text_document"),
                "/t",
                List.of("/in"),
                false,
                0,
                null,
                0))
        .hasMessageStartingWith("--prepare-parts must be 1 to 10000");
    assertThatThrownBy(() ->
            PrepareJob.forRun(
                Jobs.small(),
                List.of("0.5", "/shared/a_text_document", "0.5", "/shared/b_text_document"),
                "/t",
                List.of("/in"),
                false,
                1,
                null,
                0))
        .hasMessageContaining("the run reads 2 (a blend)");
    assertThatThrownBy(() ->
            PrepareJob.forRun(
                Jobs.small(), List.of("/shared/brown"), "/t", List.of("/in"), false, 1, null, 0))
        .hasMessageContaining("must be an absolute PREFIX_<key>_document");
    assertThatThrownBy(() ->
            PrepareJob.forRun(
                Jobs.small(),
                List.of("/shared/brown_text_document"),
                null,
                List.of("/in"),
                false,
                1,
                null,
                0))
        .hasMessageContaining("needs the run's --tokenizer");
  }
}
