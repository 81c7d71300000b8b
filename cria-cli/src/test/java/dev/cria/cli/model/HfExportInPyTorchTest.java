package dev.cria.cli.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.cli.CliRun;
import dev.cria.cli.train.SmallCorpus;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code cria export} writes, loaded by PyTorch: {@code tools/check_hf_export.py} reads the
 * safetensors and config.json with numpy into an independent PyTorch Llama (strict: a missing,
 * extra or misshapen tensor fails) and computes the valid loss of the run's own batches, which must
 * equal {@code cria eval}'s: to 1e-4 from the fp32 export, to 2e-2 from the bf16 one (its weights
 * rounded once).
 */
class HfExportInPyTorchTest {
  @TempDir Path tmp;

  @Test
  void pyTorchLoadsTheExportAndComputesCriasValidLoss() throws Exception {
    Process probe =
        new ProcessBuilder("/usr/bin/python3", "-c", "import torch, numpy")
            .redirectErrorStream(true)
            .start();
    assumeTrue(
        probe.waitFor(120, TimeUnit.SECONDS) && probe.exitValue() == 0,
        "skipped: python3-torch or python3-numpy is absent (.ci/run installs them)");
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp);
    Path run = tmp.resolve("run");
    CliRun trained =
        CliRun.of(
            corpus
                .args(
                    "train",
                    run,
                    "--global-batch",
                    "8",
                    "--max-steps",
                    "10",
                    "--val-interval",
                    "0",
                    "--val-batches",
                    "2",
                    "--threads",
                    "1")
                .toArray(String[]::new));
    assertThat(trained.exitCode()).as(trained.err()).isZero();
    CliRun eval = CliRun.of("eval", run.toString(), "--json", "--threads", "1");
    assertThat(eval.exitCode()).as(eval.err()).isZero();
    Path evalJson = tmp.resolve("eval.json");
    Files.writeString(evalJson, eval.out().lines().reduce((a, b) -> b).orElseThrow());
    for (String dtype : List.of("fp32", "bf16")) {
      Path hf = tmp.resolve("hf-" + dtype);
      CliRun export =
          CliRun.of("export", run.toString(), "--output", hf.toString(), "--dtype", dtype);
      assertThat(export.exitCode()).as(export.err()).isZero();
      Process check =
          new ProcessBuilder(
                  "/usr/bin/python3",
                  CliRun.repositoryRoot().resolve("tools/check_hf_export.py").toString(),
                  hf.toString(),
                  evalJson.toString(),
                  "--tolerance",
                  dtype.equals("fp32") ? "1e-4" : "2e-2",
                  "--threads",
                  "1")
              .redirectErrorStream(true)
              .start();
      String out = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(check.waitFor(300, TimeUnit.SECONDS)).isTrue();
      assertThat(check.exitValue()).as(out).isZero();
      assertThat(out)
          .as(dtype)
          .contains(dtype.equals("fp32") ? "(float32)" : "(bfloat16")
          .contains("OK");
    }
  }
}
