package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobConditionBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.JobStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The prepare Jobs: an Indexed Job of {@code cria prepare --part I/N} pods, each part retried
 * alone, and a merge that waits for every part in index order; on a (mock) cluster, their state,
 * pods and logs through {@code status}, and {@code stop} and {@code cleanup}.
 */
@EnableKubernetesMockClient(crud = true)
class PrepareJobTest {
  KubernetesMockServer server;
  KubernetesClient client;

  private static PrepareJob prepare(ClusterJob job, List<String> keys, int parts) {
    return new PrepareJob(
        job,
        List.of("/shared/corpus/a.jsonl.gz", "/shared/corpus/b/"),
        "/shared/tok",
        "/shared/data/brown",
        keys,
        true,
        parts,
        4,
        3,
        "c0ffee42",
        false);
  }

  /** The shell script a Job's pods run. */
  private static String script(Job job) {
    return job.getSpec().getTemplate().getSpec().getContainers().getFirst().getCommand().get(2);
  }

  @Test
  void eachPodTokenizesItsPartAndTheMergeTakesThemInIndexOrderPerKey() {
    PrepareJob p = prepare(Jobs.small(), List.of("text", "title"), 3);
    Job parts = (Job) p.objects().get(0);
    assertThat(parts.getMetadata().getName()).isEqualTo("brown-tiny-prepare");
    assertThat(parts.getSpec().getCompletionMode()).isEqualTo("Indexed");
    assertThat(parts.getSpec().getCompletions()).isEqualTo(3);
    assertThat(parts.getSpec().getParallelism()).isEqualTo(3);
    assertThat(parts.getSpec().getBackoffLimitPerIndex()).isEqualTo(3); // a part retried alone
    assertThat(parts.getSpec().getSuspend()).isNull();
    var pod = parts.getSpec().getTemplate().getSpec();
    assertThat(pod.getRestartPolicy()).isEqualTo("Never");
    assertThat(pod.getVolumes().getFirst().getPersistentVolumeClaim().getClaimName())
        .isEqualTo("shared");
    String script = pod.getContainers().getFirst().getCommand().get(2);
    // a dataset that is there already is refused first, and ends the Job at once
    assertThat(script)
        .startsWith(
            "if [ ! -f '/shared/data/brown-merging-c0ffee42' ]; then\n"
                + "if [ -e '/shared/data/brown_text_document.bin' ] || [ -e"
                + " '/shared/data/brown_text_document.idx' ] || [ -e"
                + " '/shared/data/brown_title_document.bin' ] || [ -e"
                + " '/shared/data/brown_title_document.idx' ]; then echo 'prepare:"
                + " /shared/data/brown_text_document or /shared/data/brown_title_document is there"
                + " already; nothing was changed. Submit with --overwrite")
        .contains(" >&2; exit 17; fi\nfi\ncria prepare ");
    var rule = parts.getSpec().getPodFailurePolicy().getRules().getFirst();
    assertThat(rule.getAction()).isEqualTo("FailJob");
    assertThat(rule.getOnExitCodes().getValues()).containsExactly(17);
    assertThat(script.substring(script.indexOf("\ncria prepare ") + 1))
        .isEqualTo(
            "cria prepare --input '/shared/corpus/a.jsonl.gz' '/shared/corpus/b/'"
                + " --tokenizer '/shared/tok' --json-keys 'text,title' --append-eod --workers 4"
                + " --part \"$JOB_COMPLETION_INDEX/3\" --output-prefix"
                + " '/shared/data/brown-parts/c0ffee42'/part-\"$JOB_COMPLETION_INDEX\" --overwrite"
                + " || { s=$?; mkdir -p '/shared/data/brown-parts/c0ffee42/failed'; echo \"exit $s"
                + " at $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)\" >>"
                + " '/shared/data/brown-parts/c0ffee42/failed'/part-\"$JOB_COMPLETION_INDEX\";"
                + " exit $s; }");
    Job merge = (Job) p.objects().get(1);
    assertThat(merge.getMetadata().getName()).isEqualTo("brown-tiny-merge");
    assertThat(merge.getSpec().getPodFailurePolicy().getRules().getFirst().getAction())
        .isEqualTo("FailJob");
    String mergeScript =
        merge.getSpec().getTemplate().getSpec().getContainers().getFirst().getCommand().getLast();
    assertThat(mergeScript)
        .startsWith("if [ -f '/shared/data/brown-merging-c0ffee42' ]; then\n")
        .contains(
            "exit 17; fi\nmkdir -p '/shared/data' && : > '/shared/data/brown-merging-c0ffee42'")
        .endsWith("\nrm -f '/shared/data/brown-merging-c0ffee42'");
    assertThat(mergeScript)
        .contains(
            String.join(
                "\n",
                "set -e",
                "cria data merge --wait 86400 --failures"
                    + " '/shared/data/brown-parts/c0ffee42/failed' --attempts 4"
                    + " '/shared/data/brown-parts/c0ffee42/part-0_text_document'"
                    + " '/shared/data/brown-parts/c0ffee42/part-1_text_document'"
                    + " '/shared/data/brown-parts/c0ffee42/part-2_text_document'"
                    + " --output-prefix '/shared/data/brown_text_document' --overwrite",
                "cria data merge --wait 86400 --failures"
                    + " '/shared/data/brown-parts/c0ffee42/failed' --attempts 4"
                    + " '/shared/data/brown-parts/c0ffee42/part-0_title_document'"
                    + " '/shared/data/brown-parts/c0ffee42/part-1_title_document'"
                    + " '/shared/data/brown-parts/c0ffee42/part-2_title_document'"
                    + " --output-prefix '/shared/data/brown_title_document' --overwrite",
                "echo merged > '/shared/data/brown-merging-c0ffee42'",
                "rm -rf '/shared/data/brown-parts/c0ffee42'",
                "rmdir '/shared/data/brown-parts' 2>/dev/null || true"));
    // a new submission never shares its parts with an earlier one
    assertThat(PrepareJob.newBatch()).matches("[0-9a-f]{8}").isNotEqualTo(PrepareJob.newBatch());

    // --overwrite: no refusal, the same steps
    PrepareJob replacing =
        new PrepareJob(
            p.job(),
            p.inputs(),
            p.tokenizer(),
            p.outputPrefix(),
            p.jsonKeys(),
            p.appendEod(),
            p.parts(),
            p.threads(),
            p.retries(),
            p.batch(),
            true);
    String replacingParts = script((Job) replacing.objects().get(0));
    assertThat(replacingParts).startsWith("cria prepare ").doesNotContain("exit 17");
    String replacingMerge = script((Job) replacing.objects().get(1));
    assertThat(replacingMerge).doesNotContain("exit 17").contains("cria data merge");
  }

  @Test
  void pathsAShellWouldMisreadAndBadCountsAreRefusedNamingTheFlag() {
    assertThatThrownBy(() ->
            new PrepareJob(
                Jobs.small(),
                List.of("/shared/it's.jsonl"),
                "/t",
                "/o",
                List.of("text"),
                false,
                2,
                null,
                3,
                "ab",
                false))
        .hasMessageContaining("--input '/shared/it's.jsonl'");
    assertThatThrownBy(() -> prepare(Jobs.small(), List.of("text"), 0))
        .hasMessageContaining("--parts must be 1 to 10000");
    assertThatThrownBy(() ->
            new PrepareJob(
                Jobs.small(),
                List.of("/i"),
                "/t",
                "relative/out",
                List.of("text"),
                false,
                2,
                null,
                3,
                "ab",
                false))
        .hasMessageContaining("--output-prefix must be an absolute path");
  }

  @Test
  void submitStatusLogsStopByNameAResubmissionAndCleanupOfThePrepareJobs() {
    Cluster cluster = new Cluster(client, "default");
    PrepareJob p = prepare(Jobs.small(), List.of("text"), 2);
    assertThat(RunObjects.prepare(p).submitTo(cluster))
        .containsExactly(
            "Job default/brown-tiny-prepare created", "Job default/brown-tiny-merge created");
    assertThat(cluster.status("brown-tiny-prepare").state()).isEqualTo("Pending");
    assertThatThrownBy(() -> cluster.launcherPod("brown-tiny-merge"))
        .hasMessageContaining("has no pod yet");
    for (int i = 0; i < 2; i++) {
      client
          .pods()
          .inNamespace("default")
          .resource(
              new PodBuilder()
                  .withNewMetadata()
                  .withName("brown-tiny-prepare-" + i + "-x")
                  .withLabels(
                      Map.of(
                          BatchJobs.JOB_NAME, "brown-tiny-prepare",
                          BatchJobs.INDEX, Integer.toString(i),
                          ClusterJob.RUN, "brown-tiny",
                          ClusterJob.MANAGED_BY, "cria"))
                  .endMetadata()
                  .withNewStatus()
                  .withPhase("Running")
                  .endStatus()
                  .build())
          .create();
    }
    JobStatus running = cluster.status("brown-tiny-prepare");
    assertThat(running.kind()).isEqualTo("Job");
    assertThat(running.pods())
        .extracting(x -> x.name() + " " + x.role() + " " + x.phase())
        .containsExactly(
            "brown-tiny-prepare-0-x part-0 Running", "brown-tiny-prepare-1-x part-1 Running");
    assertThatThrownBy(() -> RunObjects.prepare(p).submitTo(cluster))
        .hasMessage(
            "Job default/brown-tiny-prepare already exists (Pending): stop it first with cria k8s"
                + " stop brown-tiny-prepare");
    // the logs are the newest pod's
    assertThat(cluster.launcherPod("brown-tiny-prepare")).startsWith("brown-tiny-prepare-");

    Job done = client.batch().v1().jobs().inNamespace("default").withName("brown-tiny-merge").get();
    done.setStatus(
        new JobStatusBuilder()
            .withConditions(
                new JobConditionBuilder().withType("Complete").withStatus("True").build())
            .build());
    client.batch().v1().jobs().inNamespace("default").resource(done).updateStatus();
    assertThat(cluster.status("brown-tiny-merge").state()).isEqualTo("Succeeded");
    // stopping the prepare Jobs by name stops them and their pods, nothing of the run's training
    client
        .genericKubernetesResources(JobKind.MPIJOB.resource())
        .inNamespace("default")
        .resource(JobKind.MPIJOB.train(Jobs.small()).getFirst())
        .create();
    assertThat(cluster.stop("brown-tiny-prepare", Duration.ofSeconds(10)))
        .containsExactly(
            "Job default/brown-tiny-prepare",
            "pod default/brown-tiny-prepare-0-x",
            "pod default/brown-tiny-prepare-1-x",
            "Job default/brown-tiny-merge");
    assertThat(
            client
                .genericKubernetesResources(JobKind.MPIJOB.resource())
                .inNamespace("default")
                .withName("brown-tiny")
                .get())
        .isNotNull();
    // an ended prepare is replaced by a resubmission
    RunObjects.prepare(p).submitTo(cluster);
    Job ended =
        client.batch().v1().jobs().inNamespace("default").withName("brown-tiny-prepare").get();
    ended.setStatus(
        new JobStatusBuilder()
            .withConditions(new JobConditionBuilder().withType("Failed").withStatus("True").build())
            .build());
    client.batch().v1().jobs().inNamespace("default").resource(ended).updateStatus();
    Job mergeDone =
        client.batch().v1().jobs().inNamespace("default").withName("brown-tiny-merge").get();
    mergeDone.setStatus(
        new JobStatusBuilder()
            .withConditions(
                new JobConditionBuilder().withType("Complete").withStatus("True").build())
            .build());
    client.batch().v1().jobs().inNamespace("default").resource(mergeDone).updateStatus();
    assertThat(RunObjects.prepare(p).submitTo(cluster))
        .containsExactly(
            "Job default/brown-tiny-prepare: the ended job was replaced",
            "Job default/brown-tiny-prepare created",
            "Job default/brown-tiny-merge: the ended job was replaced",
            "Job default/brown-tiny-merge created");
    client
        .genericKubernetesResources(JobKind.MPIJOB.resource())
        .inNamespace("default")
        .withName("brown-tiny")
        .delete();

    assertThat(cluster.stop("brown-tiny", Duration.ofSeconds(10))) // the run's: its Jobs too
        .containsExactly("Job default/brown-tiny-prepare", "Job default/brown-tiny-merge");
    assertThat(client.batch().v1().jobs().inNamespace("default").list().getItems()).isEmpty();
    RunObjects.prepare(p).submitTo(cluster);
    assertThat(cluster.cleanup("brown-tiny"))
        .containsExactlyInAnyOrder(
            "Job default/brown-tiny-prepare", "Job default/brown-tiny-merge");
  }
}
