package dev.cria.cli.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.data.indexed.IndexedDataset;
import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo's path end to end: train a tokenizer on the bundled sample, prepare, inspect. */
class PrepareCommandTest {
  @TempDir static Path tmp;
  static Path tokenizerDir;

  @BeforeAll
  static void trainTokenizer() {
    tokenizerDir = tmp.resolve("tok");
    CliRun run =
        CliRun.of(
            "tokenizer",
            "train",
            "--input",
            CliRun.sampleCorpus().toString(),
            "--vocab-size",
            "2000",
            "--output",
            tokenizerDir.toString());
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out()).contains("vocab 2000");
  }

  @Test
  void trainedTokenizerIsWrittenInBothFormatsWithConfig() {
    assertThat(tokenizerDir.resolve("tokenizer.json")).isRegularFile();
    assertThat(tokenizerDir.resolve("tokenizer.model")).isRegularFile();
    assertThat(tokenizerDir.resolve("tokenizer_config.json")).isRegularFile();
    Tokenizer fromModel = Tokenizers.load(tokenizerDir.resolve("tokenizer.model"));
    Tokenizer fromJson = Tokenizers.load(tokenizerDir.resolve("tokenizer.json"));
    String text = "The Fulton County Grand Jury said Friday an investigation of 1961's primary 🙂";
    assertThat(fromJson.encode(text)).containsExactly(fromModel.encode(text));
    assertThat(fromModel.decode(fromModel.encode(text))).isEqualTo(text);
  }

  @Test
  void preparesTheSampleAndInspectsIt() throws Exception {
    Path prefix = tmp.resolve("out/brown");
    CliRun run =
        CliRun.of(
            "prepare",
            "--input",
            CliRun.sampleCorpus().toString(),
            "--tokenizer",
            tokenizerDir.toString(),
            "--append-eod",
            "--workers",
            "2",
            "--output-prefix",
            prefix.toString());
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out()).contains("500 documents");
    Tokenizer tok = Tokenizers.load(tokenizerDir);
    try (IndexedDataset ds = IndexedDataset.open(tmp.resolve("out/brown_text_document"))) {
      assertThat(ds.documentCount()).isEqualTo(500);
      int[] first = ds.sequence(0);
      assertThat(first[first.length - 1]).isEqualTo(tok.specials().eos());
      assertThat(tok.decode(first)).startsWith("The Fulton County Grand Jury said Friday");
    }

    CliRun inspect =
        CliRun.of(
            "data",
            "inspect",
            tmp.resolve("out/brown_text_document").toString(),
            "--tokenizer",
            tokenizerDir.toString(),
            "--sample-tokens",
            "8");
    assertThat(inspect.exitCode()).as(inspect.err()).isZero();
    assertThat(inspect.out())
        .contains("documents  500", "dtype      uint16", "histogram", "text  The Fulton");
  }

  @Test
  void badInputNamesFileAndLineAndWritesNothing() throws Exception {
    Path input = tmp.resolve("bad.jsonl");
    Files.write(input, List.of("{\"text\": \"fine\"}", "{\"text\": 3}"));
    CliRun run =
        CliRun.of(
            "prepare",
            "--input",
            input.toString(),
            "--tokenizer",
            tokenizerDir.toString(),
            "--output-prefix",
            tmp.resolve("bad/out").toString());
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err())
        .contains(input + ":2: key \"text\" holds a number, expected a string", "--skip-bad-lines");
    assertThat(tmp.resolve("bad/out_text_document.bin")).doesNotExist();
    assertThat(tmp.resolve("bad/out_text_document.idx")).doesNotExist();
  }

  @Test
  void anEmptyInputIsRefusedAndAKilledRunsLeftoversAreCleared() throws Exception {
    Path empty = tmp.resolve("empty.jsonl");
    Files.writeString(empty, "");
    Path out = tmp.resolve("empty/out");
    Files.createDirectories(out.getParent());
    Process gone = new ProcessBuilder("true").start(); // a prepare that was killed mid-way
    gone.waitFor();
    Path leftover = out.getParent().resolve(".out_text_document.bin.tmp-" + gone.pid() + "-1");
    Files.writeString(leftover, "half a dataset");
    CliRun run =
        CliRun.of(
            "prepare",
            "--input",
            empty.toString(),
            "--tokenizer",
            tokenizerDir.toString(),
            "--output-prefix",
            out.toString());
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).contains("no documents in").contains("nothing was written");
    assertThat(tmp.resolve("empty/out_text_document.bin")).doesNotExist();
    assertThat(leftover).doesNotExist();
    try (var files = Files.list(out.getParent())) {
      assertThat(files).isEmpty();
    }
  }

  @Test
  void encodeDecodeAndInspectTheTokenizer() {
    CliRun encode =
        CliRun.of("tokenizer", "encode", "-t", tokenizerDir.toString(), "--bos", "the jury");
    assertThat(encode.exitCode()).as(encode.err()).isZero();
    String ids = encode.out().strip();
    assertThat(ids).startsWith("1 ");
    CliRun decode = CliRun.of("tokenizer", "decode", "-t", tokenizerDir.toString(), ids);
    assertThat(decode.out().strip()).isEqualTo("the jury");
    CliRun inspect = CliRun.of("tokenizer", "inspect", tokenizerDir.toString());
    assertThat(inspect.out())
        .contains("vocab size    2000", "unk 0 \"<unk>\"", "bos 1 \"<s>\"", "eos 2 \"</s>\"");
  }
}
