package dev.cria.cli.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchCommandTest {
  @TempDir Path tmp;

  @Test
  void benchRunsTheKernelsCompileTunedAndSaysWhenItDoesNot() {
    String[] shape = {"--preset", "tiny", "--micro-batch", "1", "--seq-len", "16"};
    Path cache = tmp.resolve("runs/compile-cache");
    CliRun none = bench(shape, "--compile-cache", cache.toString());
    assertThat(none.exitCode()).as(none.err()).isZero();
    assertThat(none.out())
        .contains("kernel cache: none in " + cache + " for this machine and these shapes")
        .contains("tokens/s", "MFU");

    CliRun compiled =
        CliRun.of(
            "compile",
            shape[0],
            shape[1],
            shape[2],
            shape[3],
            shape[4],
            shape[5],
            "--run-dir",
            tmp.resolve("runs/a").toString(),
            "--tune-seconds",
            "0.01");
    assertThat(compiled.exitCode()).as(compiled.err()).isZero();
    assertThat(compiled.out()).contains("kernel cache: wrote 12 shapes");

    CliRun hit = bench(shape, "--compile-cache", cache.toString());
    assertThat(hit.out()).contains("kernel cache: hit, 12 shapes (" + cache.resolve("kernels"));
    CliRun off = bench(shape, "--compile-cache", cache.toString(), "--no-compile-cache");
    assertThat(off.out()).contains("kernel cache: off (--no-compile-cache): default kernels");
  }

  @Test
  void benchInBf16MixedSaysWhichProductRanAndRefusesFp16WithTheReason() {
    String[] shape = {"--preset", "tiny", "--micro-batch", "1", "--seq-len", "16"};
    CliRun mixed = bench(shape, "--precision", "bf16", "--no-compile-cache", "--json");
    assertThat(mixed.exitCode()).as(mixed.err()).isZero();
    assertThat(mixed.err())
        .contains("bench: precision bf16-mixed: linear layers multiply bf16 on ");
    // oneDNN where the CPU has bf16 kernels, its peak; else the Java product, the FMA peak
    boolean oneDnn = mixed.err().contains("multiply bf16 on oneDNN 3.");
    if (!oneDnn) {
      assertThat(mixed.err()).contains("on java (", "oneDNN has no bf16 matmul for this CPU");
    }
    String peak = oneDnn ? "the bf16 product's peak" : "the fp32 FMA peak";
    assertThat(mixed.out())
        .contains(
            "precision bf16-mixed",
            "MFU",
            "(of " + peak + ")",
            "\"peak_of\":\"" + peak + "\"",
            "\"precision\":\"bf16-mixed\"");

    CliRun fp16 = bench(shape, "--precision", "16");
    assertThat(fp16.exitCode()).isNotZero();
    assertThat(fp16.err()).contains("precision 16 is fp16, which needs a loss scaler");
    CliRun noWarmup = bench(shape, "--warmup", "-1");
    assertThat(noWarmup.exitCode()).isNotZero();
    assertThat(noWarmup.err()).contains("--warmup -1: must be 0 or more");
    CliRun tooLong = CliRun.of("bench", "--preset", "tiny", "--seq-len", "300", "--steps", "1");
    assertThat(tooLong.exitCode()).isNotZero();
    assertThat(tooLong.err()).contains("--seq-len 300 is longer than the model's context, 256");
  }

  private static CliRun bench(String[] shape, String... more) {
    String[] args = new String[1 + shape.length + 4 + more.length];
    args[0] = "bench";
    System.arraycopy(shape, 0, args, 1, shape.length);
    System.arraycopy(new String[] {"--steps", "1", "--warmup", "0"}, 0, args, 1 + shape.length, 4);
    System.arraycopy(more, 0, args, 5 + shape.length, more.length);
    return CliRun.of(args);
  }
}
