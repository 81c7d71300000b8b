package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import java.nio.file.Path;

/**
 * The bundled corpus prepared for training tests, by cria itself: a 600-piece tokenizer and the
 * dataset it makes.
 */
record SmallCorpus(Path tokenizer, Path prefix) {
  static SmallCorpus prepareIn(Path dir) {
    Path tokenizer = dir.resolve("tok");
    CliRun trained = CliRun.of("tokenizer", "train", "--input", CliRun.sampleCorpus().toString(),
        "--vocab-size", "600", "--output", tokenizer.toString());
    assertThat(trained.exitCode()).as(trained.err()).isZero();
    CliRun prepared = CliRun.of("prepare", "--input", CliRun.sampleCorpus().toString(), "--tokenizer",
        tokenizer.toString(), "--append-eod", "--output-prefix", dir.resolve("brown").toString());
    assertThat(prepared.exitCode()).as(prepared.err()).isZero();
    return new SmallCorpus(tokenizer, dir.resolve("brown_text_document"));
  }
}
