package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.train.checkpoint.Checkpoint;
import dev.cria.train.checkpoint.Checkpoints;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Train flags that no test used: each one changes what it says it changes, seen from outside (the
 * run's lines, its TensorBoard events, its checkpoints).
 */
class TrainFlagsTest {
  @TempDir static Path tmp;
  static SmallCorpus corpus;

  @BeforeAll
  static void prepareData() {
    corpus = SmallCorpus.prepareIn(tmp);
  }

  private static CliRun train(String run, String... more) {
    List<String> args =
        new ArrayList<>(
            corpus.args(
                "train",
                tmp.resolve(run),
                "--global-batch",
                "8",
                "--max-steps",
                "10",
                "--val-interval",
                "0",
                "--val-batches",
                "1",
                "--threads",
                "1",
                "--log-interval",
                "1"));
    args.addAll(List.of(more));
    CliRun r = CliRun.of(args.toArray(String[]::new));
    return r;
  }

  private static TreeMap<Long, Float> scalar(String run, String tag) throws Exception {
    return new TreeMap<>(PyTorchCurveTest.scalars(tmp.resolve(run)).get(tag));
  }

  @Test
  void kvHeadsMakesGroupedQueryAttentionWithFewerParameters() {
    CliRun mha = train("mha");
    CliRun gqa = train("gqa", "--kv-heads", "1");
    assertThat(gqa.exitCode()).as(gqa.err()).isZero();
    assertThat(gqa.out()).contains("heads=2 kv=1");
    assertThat(mha.out()).contains("heads=2 kv=2");
    // k and v lose half their rows in each of the 2 layers: 2 layers x 2 x (32 x 16) fewer
    assertThat(parameters(mha.out()) - parameters(gqa.out())).isEqualTo(2L * 2 * 32 * 16);
  }

  private static long parameters(String out) {
    Matcher m = Pattern.compile("vocab=\\d+, ([\\d,]+) parameters").matcher(out);
    assertThat(m.find()).as(out).isTrue();
    return Long.parseLong(m.group(1).replace(",", ""));
  }

  @Test
  void theReferenceBackendTrainsTheSameModelToFp32Rounding() throws Exception {
    CliRun cpu = train("on-cpu");
    CliRun reference = train("on-reference", "--backend", "reference");
    assertThat(reference.exitCode()).as(reference.err()).isZero();
    assertThat(reference.out()).contains("backend reference");
    assertThat(cpu.out()).contains("backend cpu");
    TreeMap<Long, Float> a = scalar("on-cpu", "reduced_train_loss");
    TreeMap<Long, Float> b = scalar("on-reference", "reduced_train_loss");
    assertThat(b.keySet()).isEqualTo(a.keySet()).hasSize(10);
    for (long s : a.keySet()) {
      assertThat((double) b.get(s))
          .as("step %d", s)
          .isCloseTo(a.get(s), org.assertj.core.data.Offset.offset(1e-4));
    }
  }

  @Test
  void clipGradClipsOnlyTheStepsWhoseNormIsAboveIt() throws Exception {
    train("clip-wide", "--clip-grad", "10"); // this model's norms stay near 0.5: never clipped
    train("clip-off", "--clip-grad", "0");
    CliRun tight = train("clip-tight", "--clip-grad", "0.1");
    assertThat(tight.exitCode()).as(tight.err()).isZero();
    assertThat(scalar("clip-off", "reduced_train_loss"))
        .isEqualTo(scalar("clip-wide", "reduced_train_loss"));
    // the norm is reported before clipping: the first step's is the same either way
    assertThat(scalar("clip-tight", "gradient_norm").get(1L))
        .isEqualTo(scalar("clip-wide", "gradient_norm").get(1L))
        .isGreaterThan(0.1f);
    // clipped from the first step on, the run takes another path from the second
    assertThat(scalar("clip-tight", "reduced_train_loss").get(1L))
        .isEqualTo(scalar("clip-wide", "reduced_train_loss").get(1L));
    assertThat(scalar("clip-tight", "reduced_train_loss").get(2L))
        .isNotEqualTo(scalar("clip-wide", "reduced_train_loss").get(2L));
  }

  @Test
  void largerBucketsMakeFewerBucketsAndTheSameLosses() throws Exception {
    CliRun byLayer = train("buckets-default", "--nproc", "2");
    CliRun large = train("buckets-large", "--nproc", "2", "--bucket-cap-mb", "100");
    assertThat(large.exitCode()).as(large.out()).isZero();
    assertThat(buckets(large.out())).isLessThan(buckets(byLayer.out()));
    TreeMap<Long, Float> a = scalar("buckets-default", "reduced_train_loss");
    TreeMap<Long, Float> b = scalar("buckets-large", "reduced_train_loss");
    assertThat(b.keySet()).isEqualTo(a.keySet());
    for (long s : a.keySet()) {
      assertThat((double) b.get(s))
          .as("step %d", s)
          .isCloseTo(a.get(s), org.assertj.core.data.Offset.offset(1e-5));
    }
  }

  private static int buckets(String out) {
    Matcher m = Pattern.compile("gradient buckets: (\\d+)").matcher(out);
    assertThat(m.find()).as(out).isTrue();
    return Integer.parseInt(m.group(1));
  }

  @Test
  void asyncSaveWritesWholeCheckpointsInTheBackground() throws Exception {
    CliRun run = train("async", "--save-interval", "3", "--async-save", "--keep-last", "5");
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out()).contains("checkpoints are written in the background");
    List<Path> saved = Checkpoints.list(tmp.resolve("async"));
    assertThat(saved.stream().map(Checkpoints::stepOf)).containsExactly(3L, 6L, 9L, 10L);
    for (Path p : saved) {
      Checkpoint.open(p).verify();
    }
  }

  @Test
  void startOverTrainsARunWhoseCheckpointsAreAllDamagedAgainKeepingThem() throws Exception {
    assertThat(train("damaged", "--save-interval", "5").exitCode()).isZero();
    Path run = tmp.resolve("damaged");
    for (Path p : Checkpoints.list(run)) {
      Path model = p.resolve(Checkpoint.MODEL);
      byte[] bytes = Files.readAllBytes(model);
      bytes[bytes.length - 1] ^= 1;
      Files.write(model, bytes);
    }
    CliRun refused = train("damaged", "--save-interval", "5", "--max-steps", "20");
    assertThat(refused.exitCode()).isEqualTo(1);
    assertThat(refused.err())
        .contains("holds checkpoints but none is usable")
        .contains("the checkpoints are left as they are")
        .contains("pass --start-over");
    CliRun again = train("damaged", "--save-interval", "5", "--max-steps", "20", "--start-over");
    assertThat(again.exitCode()).as(again.err()).isZero();
    assertThat(again.out())
        .contains(
            "no usable checkpoint in " + Checkpoints.directory(run) + ": starting from step 0")
        .contains("set aside step-10 as abandoned-step-10");
    assertThat(Checkpoints.directory(run).resolve("abandoned-step-10")).isDirectory();
    assertThat(Checkpoints.directory(run).resolve("abandoned-step-5")).isDirectory();
    Checkpoint.open(Checkpoints.list(run).getLast()).verify();
  }

  @Test
  void initFromStartsFromTheExportedWeightsExactly() throws Exception {
    assertThat(train("exported", "--max-steps", "5").exitCode()).isZero();
    Path hf = tmp.resolve("exported-hf");
    CliRun export =
        CliRun.of("export", tmp.resolve("exported").toString(), "--output", hf.toString());
    assertThat(export.exitCode()).as(export.err()).isZero();
    Path initial = tmp.resolve("from-hf-initial.safetensors");
    CliRun from =
        train(
            "from-hf",
            "--init-from",
            hf.toString(),
            "--write-initial-weights",
            initial.toString(),
            "--max-steps",
            "3");
    assertThat(from.exitCode()).as(from.err()).isZero();
    try (var exported = dev.cria.engine.io.SafetensorsFile.open(hf.resolve("model.safetensors"));
        var started = dev.cria.engine.io.SafetensorsFile.open(initial)) {
      assertThat(started.entries().keySet()).isEqualTo(exported.entries().keySet()).hasSize(21);
      for (String name : exported.entries().keySet()) {
        assertThat(started.readFloats(name)).as(name).isEqualTo(exported.readFloats(name));
      }
    }
    // and a fresh run's seeded start is not those weights
    Path seeded = tmp.resolve("seeded-initial.safetensors");
    assertThat(
            train("seeded", "--write-initial-weights", seeded.toString(), "--max-steps", "3")
                .exitCode())
        .isZero();
    try (var exported = dev.cria.engine.io.SafetensorsFile.open(hf.resolve("model.safetensors"));
        var fresh = dev.cria.engine.io.SafetensorsFile.open(seeded)) {
      String name = "model.layers.0.mlp.down_proj.weight";
      assertThat(fresh.readFloats(name)).isNotEqualTo(exported.readFloats(name));
    }
  }
}
