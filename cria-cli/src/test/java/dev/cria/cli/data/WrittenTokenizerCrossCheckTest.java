package dev.cria.cli.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.cli.CliRun;
import dev.cria.cli.train.SmallCorpus;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tokenizer.model that {@code cria tokenizer train} writes is read by SentencePiece itself
 * (Debian's python3-sentencepiece, through {@code tools/verify_prepare.py}), which tokenizes the
 * bundled corpus to the very ids that {@code cria prepare} wrote with it: only cria reading what
 * cria writes would not show a file SentencePiece reads otherwise. Needs nothing from ../shared.
 */
class WrittenTokenizerCrossCheckTest {
  @TempDir Path tmp;

  @Test
  void sentencePieceReadsTheWrittenModelAndGivesThePreparedIds() throws Exception {
    Process probe =
        new ProcessBuilder("/usr/bin/python3", "-c", "import sentencepiece, numpy")
            .redirectErrorStream(true)
            .start();
    assumeTrue(
        probe.waitFor(60, TimeUnit.SECONDS) && probe.exitValue() == 0,
        "skipped: python3-sentencepiece or python3-numpy is absent (.ci/run installs them)");
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp); // cria's tokenizer, then cria prepare
    Process check =
        new ProcessBuilder(
                List.of(
                    "/usr/bin/python3",
                    CliRun.repositoryRoot().resolve("tools/verify_prepare.py").toString(),
                    "--input",
                    CliRun.sampleCorpus().toString(),
                    "--tokenizer",
                    corpus.tokenizer().resolve("tokenizer.model").toString(),
                    "--prefix",
                    corpus.prefix().toString(),
                    "--append-eod"))
            .redirectErrorStream(true)
            .start();
    String out = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(check.waitFor(300, TimeUnit.SECONDS)).isTrue();
    assertThat(check.exitValue()).as(out).isZero();
    assertThat(out).contains("verify_prepare: OK 500 documents");
  }
}
