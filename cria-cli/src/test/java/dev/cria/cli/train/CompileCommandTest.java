package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class CompileCommandTest {
  @TempDir static Path tmp;
  static SmallCorpus corpus;

  @BeforeAll
  static void prepare() {
    corpus = SmallCorpus.prepareIn(tmp);
  }

  @Test
  void aPresetIsPlannedWithoutDataAndSaysWhatItSkipped() {
    CliRun run =
        CliRun.of(
            "compile",
            "--preset",
            "tiny",
            "--seq-len",
            "128",
            "--nproc",
            "2",
            "--run-dir",
            tmp.resolve("planned/run").toString(),
            "--no-compile-cache");
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out())
        .contains(
            "memory plan: Llama d=288 L=6 heads=6 kv=6 ffn=768 vocab=32000, 24,407,712"
                + " parameters; micro-batch 4 x 128 tokens; 2 ranks (2 on each host), ZeRO-1")
        .contains("parameters (fp32, all of them)", "each rank", "runtime (JVM, measured)")
        .contains("communication buffers (shared memory)")
        .contains("activations (", " with --recompute)")
        .contains("memory per process", "shared by 2 processes")
        .containsPattern("fits: \\d+ MB of [\\d.]+ GB per process")
        .contains("kernel tuning: skipped (--no-compile-cache): the ranks will run default kernels")
        .contains("no data given (--data-prefix or data.data_prefix)");
    assertThat(tmp.resolve("planned")).doesNotExist();
  }

  @Test
  void tunedKernelsGoToTheCacheBesideTheRunsAndTrainingUsesThemWithTheSameLosses() {
    Path run = tmp.resolve("tuned/run");
    Path cache = tmp.resolve("tuned/compile-cache");
    CliRun compiled =
        CliRun.of(corpus.args("compile", run, "--tune-seconds", "0.01").toArray(String[]::new));
    assertThat(compiled.exitCode()).as(compiled.err()).isZero();
    assertThat(compiled.out())
        .contains("kernel tuning: cpu on ")
        .contains("GEMM shapes of a 2 x 32-token micro-batch")
        .containsPattern(
            "  NT 64x32x32 +[\\d.]+ (GFLOP/s, the default kept \\(|-> +[\\d.]+ GFLOP/s \\()")
        .contains("kernel cache: wrote ")
        .contains(cache.resolve("kernels").toString())
        .contains("checks passed");
    CliRun again =
        CliRun.of(corpus.args("compile", run, "--tune-seconds", "0.01").toArray(String[]::new));
    assertThat(again.out())
        .contains("kernel cache: hit, already tuned for this machine (--retune times them again):")
        .doesNotContain("kernel tuning: cpu");

    CliRun tuned = CliRun.of(corpus.args("train", run, "--max-steps", "3").toArray(String[]::new));
    assertThat(tuned.exitCode()).as(tuned.err()).isZero();
    assertThat(tuned.out()).contains("kernel cache: hit, ").contains(cache.toString());
    CliRun plain =
        CliRun.of(
            corpus
                .args("train", tmp.resolve("tuned/plain"), "--max-steps", "3", "--no-compile-cache")
                .toArray(String[]::new));
    assertThat(plain.exitCode()).as(plain.err()).isZero();
    assertThat(plain.out()).contains("kernel cache: off (--no-compile-cache): default kernels");
    assertThat(SmallCorpus.finalLoss(tuned.out())).isEqualTo(SmallCorpus.finalLoss(plain.out()));
    assertThat(SmallCorpus.finalValLoss(tuned.out()))
        .isEqualTo(SmallCorpus.finalValLoss(plain.out()));

    // bf16-mixed multiplies on the bf16 product: nothing to tune, and the fp32 tuning not used
    CliRun bf16 =
        CliRun.of(
            corpus
                .args("compile", run, "--tune-seconds", "0.01", "--precision", "bf16-mixed")
                .toArray(String[]::new));
    assertThat(bf16.exitCode()).as(bf16.err()).isZero();
    assertThat(bf16.out())
        .contains("kernel tuning: nothing to tune in bf16-mixed")
        .doesNotContain("kernel tuning: cpu");
    CliRun mixed =
        CliRun.of(
            corpus
                .args(
                    "train",
                    tmp.resolve("tuned/mixed"),
                    "--max-steps",
                    "3",
                    "--precision",
                    "bf16-mixed")
                .toArray(String[]::new));
    assertThat(mixed.exitCode()).as(mixed.err()).isZero();
    assertThat(mixed.out()).contains("kernel cache: not used: no fp32 products to tune");
  }

  @Test
  void tensorParallelismPlansEachRanksSliceAndRefusesWhatDoesNotDivide() {
    CliRun run =
        CliRun.of(
            "compile",
            "--preset",
            "llama2-7b",
            "--json",
            "--nproc",
            "8",
            "--tensor-parallel",
            "8",
            "--micro-batch",
            "1",
            "--seq-len",
            "4096",
            "--recompute",
            "--memory-per-process",
            "200G");
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out())
        .contains("\"tensor_parallel\":8")
        .contains("\"parameters\":6738415616,") // the model
        .contains("\"parameters\":3370139648,") // each rank's bytes: its 1/8, the norms whole
        .contains("\"whole_model\":");
    CliRun three =
        CliRun.of("compile", "--preset", "llama2-7b", "--nproc", "3", "--tensor-parallel", "3");
    assertThat(three.exitCode()).isEqualTo(1);
    assertThat(three.err())
        .contains("tensor parallelism 3 does not divide the model's 32 attention heads");
    CliRun mixed =
        CliRun.of(
            "compile",
            "--preset",
            "tiny",
            "--nproc",
            "4",
            "--tensor-parallel",
            "2",
            "--run-dir",
            tmp.resolve("mixed/run").toString(),
            "--no-compile-cache"); // the plan is what this checks, not the tuner
    assertThat(mixed.exitCode()).as(mixed.err()).isZero();
    assertThat(mixed.out()).contains("4 ranks (4 on each host), tensor parallelism 2");
  }

  @Test
  void llama2SevenBillionOn24GigabytesIsRefusedWithTheTable() {
    CliRun run = CliRun.of("compile", "--preset", "llama2-7b", "--memory-per-process", "24G");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out())
        .contains("memory plan: Llama d=4096 L=32 heads=32 kv=32")
        .contains("does not fit: a rank needs ")
        .contains("a process has 24.0 GB")
        .contains("--zero 3 --recompute --micro-batch 1 on 8 host(s) of 1 rank(s)")
        .doesNotContain("checks passed");
  }

  @Test
  void jsonIsOneObjectForAClusterOfWorkers() throws Exception {
    CliRun run =
        CliRun.of(
            "compile",
            "--preset",
            "small",
            "--workers",
            "4",
            "--procs-per-worker",
            "2",
            "--memory-per-process",
            "16Gi",
            "--zero",
            "2",
            "--global-batch",
            "32", // 8 ranks of 4: what training would take
            "--json");
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out().strip().lines()).hasSize(1);
    JsonNode o = JsonMapper.builder().build().readTree(run.out());
    assertThat(o.path("world_size").asInt()).isEqualTo(8);
    assertThat(o.path("ranks_per_host").asInt()).isEqualTo(2);
    assertThat(o.path("zero_stage").asInt()).isEqualTo(2);
    assertThat(o.path("memory_per_process").asLong()).isEqualTo(16L << 30);
    assertThat(o.path("fits").asBoolean()).isTrue();
    assertThat(o.path("ranks").get(0).path("bytes").path("gradients").asLong())
        .isLessThan(o.path("ranks").get(0).path("bytes").path("parameters").asLong());
  }

  @Test
  void withDataItChecksTheRunAndBuildsTheSampleIndexCache() {
    Path run = tmp.resolve("compiled");
    List<String> args = corpus.args("compile", run, "--nproc", "2", "--tune-seconds", "0.01");
    CliRun compiled = CliRun.of(args.toArray(String[]::new));
    assertThat(compiled.exitCode()).as(compiled.err()).isZero();
    assertThat(compiled.out())
        .contains("fits: ")
        .contains("checks passed for 2 rank(s)")
        .doesNotContain("no data given");
    assertThat(Files.isDirectory(run.resolve("index_cache"))).isTrue();
  }

  @Test
  void sampleIndicesLargerThanTheHeapAreRefusedWithHowToRaiseIt() {
    // 10^10 samples: 240 GB of indices, within the memory given but past any test JVM's heap
    CliRun run =
        CliRun.of(
            "compile",
            "--preset",
            "tiny",
            "--seq-len",
            "16",
            "--micro-batch",
            "1",
            "--global-batch",
            "100000",
            "--max-steps",
            "100000",
            "--memory-per-process",
            "400G",
            "--no-compile-cache",
            "--run-dir",
            tmp.resolve("heap/run").toString());
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out())
        .containsPattern("  sample indices \\(on the heap, at least\\) +2\\d\\d(\\.\\d)? GB")
        .contains("fits: ")
        .contains("does not fit: the sample indices need at least ")
        .contains("raise it (CRIA_JAVA_OPTS=-Xmx")
        .doesNotContain("kernel tuning");
  }

  @Test
  void mistakesAreNamed() throws Exception {
    CliRun both = CliRun.of("compile", "--nproc", "2", "--workers", "2");
    assertThat(both.exitCode()).isEqualTo(1);
    assertThat(both.err()).contains("--nproc is for this machine, --workers for a cluster");
    CliRun size = CliRun.of("compile", "--memory-per-process", "lots");
    assertThat(size.err())
        .contains(
            "--memory-per-process: 'lots' is not a size: write 24Gi, 24G, 24GB, 512Mi or bytes");
    CliRun check = CliRun.of("compile", "--check");
    assertThat(check.exitCode()).isEqualTo(2);
    assertThat(check.err()).contains("Unknown option: '--check'"); // cria train's, not compile's
    CliRun unwritable =
        CliRun.of(
            "compile",
            "--seq-len",
            "16",
            "--micro-batch",
            "1",
            "--run-dir",
            tmp.resolve("unwritable/run").toString(),
            "--compile-cache",
            "/proc/cria-cache");
    assertThat(unwritable.exitCode()).isEqualTo(1);
    assertThat(unwritable.err())
        .contains("compile cache /proc/cria-cache/kernels: cannot write there (")
        .contains("give --compile-cache a writable directory, or --no-compile-cache");
    assertThat(unwritable.out()).doesNotContain("kernel tuning: cpu");
    Path file = tmp.resolve("a-file");
    java.nio.file.Files.writeString(file, "mine\n");
    CliRun onAFile =
        CliRun.of(
            "compile", "--seq-len", "16", "--micro-batch", "1", "--compile-cache", file.toString());
    assertThat(onAFile.exitCode()).isEqualTo(1);
    assertThat(onAFile.err())
        .contains("compile cache " + file + " is a file: give --compile-cache a directory");
    assertThat(onAFile.out()).doesNotContain("warning: ignoring kernel cache entry");
    CliRun seconds = CliRun.of("compile", "--tune-seconds", "0");
    assertThat(seconds.err()).contains("--tune-seconds must be more than 0 and at most 60: 0.0");
  }

  @Test
  void withoutDataItRefusesWhatTrainingWouldRefuse() {
    CliRun tooLong = CliRun.of("compile", "--preset", "tiny", "--seq-len", "300", "--json");
    assertThat(tooLong.exitCode()).isEqualTo(1);
    assertThat(tooLong.out()).isEmpty();
    assertThat(tooLong.err())
        .contains("data.seq_length 300 is longer than the model's max_position_embeddings 256");
    CliRun uneven =
        CliRun.of(
            "compile",
            "--preset",
            "tiny",
            "--nproc",
            "2",
            "--micro-batch",
            "2",
            "--global-batch",
            "6");
    assertThat(uneven.exitCode()).isEqualTo(1);
    assertThat(uneven.err())
        .contains(
            "trainer.global_batch_size 6 is not a multiple of micro_batch_size x data-parallel"
                + " size = 2 x 2");
    CliRun split =
        CliRun.of(
            "compile",
            "--workers",
            "2",
            "--procs-per-worker",
            "2",
            "--preset",
            "tiny",
            "--tensor-parallel",
            "4");
    assertThat(split.exitCode()).isEqualTo(1);
    assertThat(split.err()).contains("a tensor-parallel group must stay on one host");
  }
}
