package dev.cria.cli.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.cli.train.SmallCorpus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * The prepare Jobs' commands, as {@code cria k8s render prepare} writes them, run here by a shell
 * as the pods would run them (each part with its {@code JOB_COMPLETION_INDEX}, the merge waiting
 * for the parts): one part failing after it wrote, then retried alone, and the merged dataset is,
 * byte for byte, the one a single {@code cria prepare} of the whole writes.
 */
class PrepareJobScriptsTest {
  @TempDir Path tmp;

  /** A {@code cria} on the PATH, as the image has one: this test's JVM and class path. */
  private Path criaOnPath() throws Exception {
    Path bin = tmp.resolve("bin");
    Files.createDirectories(bin);
    String command =
        SmallCorpus.criaJvm().stream().map(a -> "'" + a + "'").collect(Collectors.joining(" "));
    Path cria = bin.resolve("cria");
    Files.writeString(cria, "#!/bin/sh\nexec " + command + " \"$@\"\n");
    cria.toFile().setExecutable(true);
    return bin;
  }

  private Process shell(Path bin, String script, String index, Path log) throws Exception {
    ProcessBuilder pb = new ProcessBuilder("/bin/sh", "-c", script);
    pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
    if (index != null) {
      pb.environment().put("JOB_COMPLETION_INDEX", index);
    }
    return pb.redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  /** The prepare Jobs as rendered: each Job's script, and this submission's parts directory. */
  private record Rendered(String prepare, String merge, Path batch, JsonNode parts) {}

  /** {@code cria k8s render prepare} of the sample into {@code out}, then {@code more} flags. */
  private static Rendered render(SmallCorpus corpus, Path out, String... more) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "k8s",
                "render",
                "prepare",
                "--job",
                "brown",
                "--namespace",
                "default",
                "--image",
                "registry.local/cria:test",
                "--shared-pvc",
                "shared",
                "--input",
                CliRun.sampleCorpus().toString(),
                "--tokenizer",
                corpus.tokenizer().toString(),
                "--output-prefix",
                out.toString()));
    args.addAll(List.of(more));
    CliRun rendered = CliRun.of(args.toArray(String[]::new));
    assertThat(rendered.exitCode()).as(rendered.err()).isZero();
    String prepare = null;
    String merge = null;
    JsonNode parts = null;
    YAMLMapper yaml = YAMLMapper.builder().build();
    for (String doc : rendered.out().split("(?m)^---$")) {
      if (doc.isBlank()) {
        continue;
      }
      JsonNode o = yaml.readTree(doc);
      String script = o.at("/spec/template/spec/containers/0/command/2").asString();
      if (o.at("/metadata/name").asString().equals("brown-prepare")) {
        prepare = script;
        parts = o;
      } else if (o.at("/metadata/name").asString().equals("brown-merge")) {
        merge = script;
      }
    }
    java.util.regex.Matcher batch =
        java.util.regex.Pattern.compile("'([^']*-parts/[0-9a-f]{8})'").matcher(prepare);
    assertThat(batch.find()).isTrue();
    return new Rendered(prepare, merge, Path.of(batch.group(1)), parts);
  }

  @Test
  void threePartsOneFailedAndRetriedMergeIntoTheBytesOfOnePrepare() throws Exception {
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp.resolve("whole")); // one prepare of the whole
    Path out = tmp.resolve("shared/data/brown");
    Rendered r = render(corpus, out, "--append-eod", "--parts", "3", "--workers", "1");
    assertThat(r.parts().at("/spec/completionMode").asString()).isEqualTo("Indexed");
    assertThat(r.parts().at("/spec/completions").asInt()).isEqualTo(3);
    String prepare = r.prepare();
    String merge = r.merge();
    assertThat(prepare).contains("--part \"$JOB_COMPLETION_INDEX/3\"");
    assertThat(merge).contains("cria data merge --wait");
    Path bin = criaOnPath();

    // the merge starts first, as its Job does, and waits for the parts
    Process merging = shell(bin, merge, null, tmp.resolve("merge.log"));
    List<Process> parts = new ArrayList<>();
    for (String i : List.of("0", "2")) {
      parts.add(shell(bin, prepare, i, tmp.resolve("part-" + i + ".log")));
    }
    // part 1 fails after it has written (a directory stands where its index goes, so its last
    // rename fails), then is retried alone, as backoffLimitPerIndex does
    Path blocker = r.batch().resolve("part-1_text_document.idx");
    Files.createDirectories(blocker);
    Process failing = shell(bin, prepare, "1", tmp.resolve("part-1-failed.log"));
    assertThat(failing.waitFor(5, TimeUnit.MINUTES)).isTrue(); // a liveness bound
    assertThat(failing.exitValue())
        .as(Files.readString(tmp.resolve("part-1-failed.log")))
        .isNotZero();
    // the attempt is logged where the merge looks; one of four attempts: the merge waits on
    Path failures = r.batch().resolve("failed/part-1");
    assertThat(Files.readAllLines(failures)).singleElement().asString().startsWith("exit 1 at ");
    assertThat(merging.isAlive()).as("the merge waits for the failed part").isTrue();
    Files.delete(blocker);
    parts.add(shell(bin, prepare, "1", tmp.resolve("part-1.log")));
    for (int i = 0; i < parts.size(); i++) {
      Process p = parts.get(i);
      Path log = tmp.resolve("part-" + List.of("0", "2", "1").get(i) + ".log");
      assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue(); // a liveness bound
      assertThat(p.exitValue()).as(Files.readString(log)).isZero();
    }
    assertThat(merging.waitFor(5, TimeUnit.MINUTES)).isTrue();
    String mergeLog = Files.readString(tmp.resolve("merge.log"));
    assertThat(merging.exitValue()).as(mergeLog).isZero();
    assertThat(mergeLog).contains("merge: waiting for", "merge: all 3 dataset(s) are there");

    for (String ext : List.of(".bin", ".idx")) {
      assertThat(
              Files.mismatch(Path.of(out + "_text_document" + ext), Path.of(corpus.prefix() + ext)))
          .as(ext + " byte for byte")
          .isEqualTo(-1L);
    }
    // the parts directory was this submission's own, and is gone; nothing else was touched
    try (var left = Files.list(out.getParent())) {
      assertThat(left.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("brown_text_document.bin", "brown_text_document.idx");
    }
  }

  @Test
  void aPartThatUsedAllItsAttemptsEndsTheMergeNamingIt() throws Exception {
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp.resolve("whole"));
    Path out = tmp.resolve("shared/data/brown");
    Rendered r = render(corpus, out, "--parts", "2", "--retries", "0");
    String prepare = r.prepare();
    String merge = r.merge();
    Files.createDirectories(r.batch().resolve("part-1_text_document.idx"));
    Path bin = criaOnPath();
    Process merging = shell(bin, merge, null, tmp.resolve("merge.log"));
    Process failing = shell(bin, prepare, "1", tmp.resolve("part-1.log"));
    assertThat(failing.waitFor(5, TimeUnit.MINUTES)).isTrue(); // a liveness bound
    assertThat(failing.exitValue()).isNotZero();
    // no retry left (--retries 0): the merge gives up at once instead of waiting a day
    assertThat(merging.waitFor(5, TimeUnit.MINUTES)).isTrue(); // a liveness bound
    String log = Files.readString(tmp.resolve("merge.log"));
    assertThat(merging.exitValue()).as(log).isEqualTo(1);
    assertThat(log)
        .contains("part-1 failed 1 time(s), the last: exit 1 at ")
        .contains("its job has given up on it, so the merge does too (nothing was written)");
    assertThat(Path.of(out + "_text_document.bin")).doesNotExist();
  }

  /**
   * A dataset at the output prefix already: every pod of both Jobs refuses it at once with the exit
   * status their failure policy ends the Job on, touching nothing; with {@code --overwrite} the
   * Jobs replace it; a merge retried after it had finished says so and ends well.
   */
  @Test
  void aDatasetThereAlreadyIsRefusedByEveryPodUnlessOverwritten() throws Exception {
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp.resolve("whole"));
    Path out = tmp.resolve("shared/data/brown");
    Files.createDirectories(out.getParent());
    Path bin_ = Path.of(out + "_text_document.bin");
    Path idx = Path.of(out + "_text_document.idx");
    Files.writeString(bin_, "an hour of 32 workers");
    Files.writeString(idx, "its index");
    Rendered r = render(corpus, out, "--parts", "2", "--workers", "1");
    assertThat(r.parts().at("/spec/podFailurePolicy/rules/0/onExitCodes/values/0").asInt())
        .isEqualTo(17);
    Path bin = criaOnPath();
    Process merging = shell(bin, r.merge(), null, tmp.resolve("merge.log"));
    Process part = shell(bin, r.prepare(), "0", tmp.resolve("part.log"));
    for (Process p : List.of(merging, part)) {
      assertThat(p.waitFor(1, TimeUnit.MINUTES)).isTrue(); // a liveness bound
      assertThat(p.exitValue()).isEqualTo(17);
    }
    assertThat(Files.readString(tmp.resolve("merge.log")))
        .contains(
            "merge: "
                + out
                + "_text_document is there already; nothing was changed. Submit with --overwrite");
    assertThat(Files.readString(tmp.resolve("part.log"))).contains("prepare: " + out);
    assertThat(Files.readString(bin_)).isEqualTo("an hour of 32 workers");
    try (var left = Files.list(out.getParent())) {
      assertThat(left.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("brown_text_document.bin", "brown_text_document.idx");
    }

    Rendered replacing =
        render(corpus, out, "--append-eod", "--parts", "2", "--workers", "1", "--overwrite");
    Process merge = shell(bin, replacing.merge(), null, tmp.resolve("merge2.log"));
    List<Process> parts = new ArrayList<>();
    for (String i : List.of("0", "1")) {
      parts.add(shell(bin, replacing.prepare(), i, tmp.resolve("part2-" + i + ".log")));
    }
    for (Process p : parts) {
      assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
      assertThat(p.exitValue()).isZero();
    }
    assertThat(merge.waitFor(5, TimeUnit.MINUTES)).isTrue();
    assertThat(merge.exitValue()).as(Files.readString(tmp.resolve("merge2.log"))).isZero();
    assertThat(Files.mismatch(idx, Path.of(corpus.prefix() + ".idx"))).isEqualTo(-1L);
    try (var left = Files.list(out.getParent())) { // the merge's mark is gone with the parts
      assertThat(left.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("brown_text_document.bin", "brown_text_document.idx");
    }

    // a merge retried after it had merged, while it removed the parts: it had finished
    Rendered again = render(corpus, out, "--parts", "2");
    String batch = again.batch().getFileName().toString();
    Files.writeString(Path.of(out + "-merging-" + batch), "merged\n");
    Files.createDirectories(again.batch());
    Files.writeString(again.batch().resolve("part-1_text_document.bin"), "left by the rm -rf");
    Process retried = shell(bin, again.merge(), null, tmp.resolve("merge3.log"));
    assertThat(retried.waitFor(1, TimeUnit.MINUTES)).isTrue();
    assertThat(retried.exitValue()).isZero();
    assertThat(Files.readString(tmp.resolve("merge3.log")))
        .contains("merge: done already (by an earlier attempt)");
    assertThat(Path.of(out + "-merging-" + batch)).doesNotExist();
    try (var left = Files.list(out.getParent())) {
      assertThat(left.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("brown_text_document.bin", "brown_text_document.idx");
    }
  }

  /**
   * The TrainJob's initializer steps ({@code render train --prepare-input}): the parts and the
   * merge, run as their pods would, make the dataset the run reads, byte for byte one prepare's;
   * run again (a restarted or resubmitted TrainJob) they see it there and do nothing.
   */
  @Test
  void theTrainJobsInitializerStepsMakeTheRunsDatasetThenStepAside() throws Exception {
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp.resolve("whole"));
    Path out = tmp.resolve("shared/data/brown");
    CliRun rendered =
        CliRun.of(
            "k8s",
            "render",
            "train",
            "--job",
            "brown",
            "--namespace",
            "default",
            "--image",
            "registry.local/cria:test",
            "--workers",
            "2",
            "--shared-pvc",
            "shared",
            "--data-prefix",
            out + "_text_document",
            "--tokenizer",
            corpus.tokenizer().toString(),
            "--micro-batch",
            "2",
            "--global-batch",
            "8",
            "--max-steps",
            "5",
            "--prepare-input",
            CliRun.sampleCorpus().toString(),
            "--prepare-parts",
            "2",
            "--prepare-threads",
            "1",
            "--prepare-append-eod");
    assertThat(rendered.exitCode()).as(rendered.err()).isZero();
    Map<String, String> scripts = new java.util.LinkedHashMap<>();
    YAMLMapper yaml = YAMLMapper.builder().build();
    for (String doc : rendered.out().split("(?m)^---$")) {
      JsonNode o = doc.isBlank() ? null : yaml.readTree(doc);
      if (o != null && o.path("kind").asString().equals("TrainingRuntime")) {
        for (JsonNode r : o.at("/spec/template/spec/replicatedJobs")) {
          scripts.put(
              r.path("name").asString(),
              r.at("/template/spec/template/spec/containers/0/command/2").asString());
        }
      }
    }
    assertThat(scripts.keySet())
        .containsExactly("dataset-initializer", "dataset-merge", "node", "launcher");
    Path bin = criaOnPath();
    for (String i : List.of("0", "1")) {
      Process part = shell(bin, scripts.get("dataset-initializer"), i, tmp.resolve("p" + i));
      assertThat(part.waitFor(5, TimeUnit.MINUTES)).isTrue(); // a liveness bound
      assertThat(part.exitValue()).as(Files.readString(tmp.resolve("p" + i))).isZero();
    }
    // failures a part logged before it succeeded (in an earlier JobSet restart, say) do not count:
    // JobSet starts the merge step only once every part is complete
    java.util.regex.Matcher batch =
        java.util.regex.Pattern.compile("'([^']*-parts/[0-9a-f]{8})'")
            .matcher(scripts.get("dataset-initializer"));
    assertThat(batch.find()).isTrue();
    Path failed = Path.of(batch.group(1), "failed", "part-1");
    Files.createDirectories(failed.getParent());
    Files.writeString(failed, "exit 1 at then\n".repeat(5));
    Process merge = shell(bin, scripts.get("dataset-merge"), null, tmp.resolve("merge.log"));
    assertThat(merge.waitFor(5, TimeUnit.MINUTES)).isTrue();
    assertThat(merge.exitValue()).as(Files.readString(tmp.resolve("merge.log"))).isZero();
    for (String ext : List.of(".bin", ".idx")) {
      assertThat(
              Files.mismatch(Path.of(out + "_text_document" + ext), Path.of(corpus.prefix() + ext)))
          .as(ext + " byte for byte")
          .isEqualTo(-1L);
    }
    var written = Files.getLastModifiedTime(Path.of(out + "_text_document.idx"));

    // a restart: both steps see the dataset there and step aside, touching nothing
    Process again = shell(bin, scripts.get("dataset-initializer"), "1", tmp.resolve("again"));
    assertThat(again.waitFor(1, TimeUnit.MINUTES)).isTrue();
    assertThat(Files.readString(tmp.resolve("again")))
        .contains("prepare: " + out + " is there; nothing to do");
    Process mergeAgain = shell(bin, scripts.get("dataset-merge"), null, tmp.resolve("again2"));
    assertThat(mergeAgain.waitFor(1, TimeUnit.MINUTES)).isTrue();
    assertThat(mergeAgain.exitValue()).isZero();
    assertThat(Files.readString(tmp.resolve("again2")))
        .contains("merge: " + out + " is there; nothing to do");
    assertThat(Files.getLastModifiedTime(Path.of(out + "_text_document.idx"))).isEqualTo(written);
    try (var left = Files.list(out.getParent())) {
      assertThat(left.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("brown_text_document.bin", "brown_text_document.idx");
    }
  }
}
