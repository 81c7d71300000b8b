package dev.cria.cli.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainTokenizerCommandTest {
  @TempDir Path tmp;
  private Path corpus;

  @BeforeEach
  void writeCorpus() throws IOException {
    corpus = tmp.resolve("docs.jsonl");
    Files.writeString(
        corpus,
        """
        {"text": "the quick brown fox jumps over the lazy dog"}
        {"text": "a lazy dog sleeps while the quick fox runs"}
        """);
  }

  private CliRun train(Path output, String... more) {
    String[] base = {
      "tokenizer",
      "train",
      "--input",
      corpus.toString(),
      "--vocab-size",
      "300",
      "--output",
      output.toString()
    };
    String[] args = java.util.Arrays.copyOf(base, base.length + more.length);
    System.arraycopy(more, 0, args, base.length, more.length);
    return CliRun.of(args);
  }

  @Test
  void aDirectoryThatHoldsATokenizerIsReplacedOnlyWithOverwriteAndItsOtherFilesStay()
      throws IOException {
    Path out = tmp.resolve("tok");
    assertThat(train(out).exitCode()).isZero();
    Files.writeString(out.resolve("notes.txt"), "mine");
    Files.writeString(out.resolve("tokenizer.json"), "an earlier tokenizer");

    CliRun refused = train(out);
    assertThat(refused.exitCode()).isEqualTo(1);
    assertThat(refused.err())
        .contains(
            "--output "
                + out
                + " already holds a tokenizer (tokenizer.model); pick another --output or pass"
                + " --overwrite to replace its files");
    assertThat(refused.err()).doesNotContain("counting words"); // refused before any work
    assertThat(Files.readString(out.resolve("tokenizer.json"))).isEqualTo("an earlier tokenizer");

    assertThat(train(out, "--overwrite").exitCode()).isZero();
    assertThat(Files.readString(out.resolve("tokenizer.json"))).contains("\"model\"");
    assertThat(Files.readString(out.resolve("notes.txt"))).isEqualTo("mine");
  }

  @Test
  void aDirectoryWithOtherFilesIsUsedAndAFileIsRefused() throws IOException {
    Path out = tmp.resolve("shared");
    Files.createDirectories(out);
    Files.writeString(out.resolve("README"), "mine");
    assertThat(train(out).exitCode()).isZero();
    assertThat(out.resolve("tokenizer.model")).isRegularFile();
    assertThat(Files.readString(out.resolve("README"))).isEqualTo("mine");

    Path file = tmp.resolve("a-file");
    Files.writeString(file, "x");
    CliRun run = train(file, "--overwrite");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).contains("--output " + file + " is a file, not a directory");
  }

  @Test
  void badTrainerValuesNameTheirFlags() {
    CliRun coverage = train(tmp.resolve("t1"), "--character-coverage", "2");
    assertThat(coverage.exitCode()).isEqualTo(1);
    assertThat(coverage.err())
        .contains("the character coverage (--character-coverage) must be in (0, 1], got 2.0");
    CliRun piece = train(tmp.resolve("t2"), "--max-piece-length", "0");
    assertThat(piece.err())
        .contains("the longest piece (--max-piece-length) must be at least 1 character, got 0");
    assertThat(tmp.resolve("t1")).doesNotExist();
  }
}
