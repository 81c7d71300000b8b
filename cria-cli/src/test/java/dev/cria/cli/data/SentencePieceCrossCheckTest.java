package dev.cria.cli.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.cli.CliRun;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The acceptance check: {@code cria prepare} on the Brown corpus with the Llama-2 tokenizer
 * gives, for every document, SentencePiece's own ids (checked by {@code tools/verify_prepare.py}
 * with Debian's python3-sentencepiece), and the tokenizer.json gives identical files. Needs
 * ../shared (licensed tokenizer) and python3-sentencepiece; skips, saying which is missing,
 * otherwise.
 */
class SentencePieceCrossCheckTest {
  @TempDir Path tmp;

  @Test
  void prepareMatchesSentencePieceAndBothTokenizerFilesAgree() throws Exception {
    Path shared = CliRun.shared();
    Path model = shared.resolve("data/llama2/tokenizer.model");
    Path json = shared.resolve("data/llama2/tokenizer.json");
    Path brown = shared.resolve("data/brown/brown.jsonl.gz");
    assumeTrue(
        Files.exists(model) && Files.exists(json) && Files.exists(brown),
        "skipped: " + model + ", " + json + " or " + brown + " is absent");

    CliRun fromModel =
        CliRun.of(
            "prepare",
            "--input",
            brown.toString(),
            "--tokenizer",
            model.toString(),
            "--append-eod",
            "--workers",
            "2",
            "--output-prefix",
            tmp.resolve("spm").toString());
    assertThat(fromModel.exitCode()).as(fromModel.err()).isZero();
    CliRun fromJson =
        CliRun.of(
            "prepare",
            "--input",
            brown.toString(),
            "--tokenizer",
            json.toString(),
            "--append-eod",
            "--workers",
            "2",
            "--output-prefix",
            tmp.resolve("hf").toString());
    assertThat(fromJson.exitCode()).as(fromJson.err()).isZero();
    for (String ext : new String[] {".bin", ".idx"}) {
      assertThat(Files.readAllBytes(tmp.resolve("hf_text_document" + ext)))
          .as("tokenizer.json and tokenizer.model give identical %s", ext)
          .isEqualTo(Files.readAllBytes(tmp.resolve("spm_text_document" + ext)));
    }

    Path python = Path.of("/usr/bin/python3");
    assumeTrue(Files.isExecutable(python), "skipped: /usr/bin/python3 is absent");
    Process check =
        new ProcessBuilder(
                python.toString(),
                CliRun.repositoryRoot().resolve("tools/verify_prepare.py").toString(),
                "--input",
                brown.toString(),
                "--tokenizer",
                model.toString(),
                "--prefix",
                tmp.resolve("spm_text_document").toString(),
                "--append-eod")
            .redirectErrorStream(true)
            .start();
    String output = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(check.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assumeTrue(
        check.exitValue() != 3, () -> "skipped: python3-sentencepiece is not installed: " + output);
    assertThat(check.exitValue()).as(output).isZero();
    assertThat(output).contains("verify_prepare: OK 500 documents");
    System.out.println(output.strip());
  }
}
