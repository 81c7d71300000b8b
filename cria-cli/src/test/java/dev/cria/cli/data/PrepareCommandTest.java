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

    // another tokenizer's ids, and directories where the files should be, are named as such
    Path small = CliRun.trainedTokenizer(tmp.resolve("small-tokenizer"), 300);
    CliRun other =
        CliRun.of(
            "data",
            "inspect",
            tmp.resolve("out/brown_text_document").toString(),
            "--tokenizer",
            small.toString(),
            "--sample-tokens",
            "1000");
    assertThat(other.exitCode()).isEqualTo(1);
    assertThat(other.err())
        .contains("is outside the 300 tokens of --tokenizer " + small)
        .contains("was the data prepared with another tokenizer?");
    Files.createDirectories(tmp.resolve("dirs/d.idx"));
    Files.createDirectories(tmp.resolve("dirs/d.bin"));
    CliRun dirs = CliRun.of("data", "inspect", tmp.resolve("dirs/d").toString());
    assertThat(dirs.exitCode()).isEqualTo(1);
    assertThat(dirs.err()).contains("d.idx: a directory, not a dataset file");
  }

  @Test
  void threePartsMergedAreTheWholePrepareByteForByte() throws Exception {
    List<String> common =
        List.of(
            "prepare",
            "--input",
            CliRun.sampleCorpus().toString(),
            "--tokenizer",
            tokenizerDir.toString(),
            "--append-eod",
            "--workers",
            "2");
    List<String> merge = new java.util.ArrayList<>(List.of("data", "merge"));
    for (int i = 0; i < 3; i++) {
      List<String> args = new java.util.ArrayList<>(common);
      args.addAll(
          List.of("--part", i + "/3", "--output-prefix", tmp.resolve("parts/" + i).toString()));
      CliRun part = CliRun.of(args.toArray(String[]::new));
      assertThat(part.exitCode()).as(part.err()).isZero();
      assertThat(part.err()).contains("part " + i + "/3 of their lines");
      merge.add(tmp.resolve("parts/" + i + "_text_document.idx").toString());
    }
    merge.addAll(List.of("--output-prefix", tmp.resolve("parts/merged").toString()));
    CliRun merged = CliRun.of(merge.toArray(String[]::new));
    assertThat(merged.exitCode()).as(merged.err()).isZero();
    assertThat(merged.out())
        .startsWith(tmp.resolve("parts/merged") + ".bin/.idx: 500 documents, ")
        .contains("(uint16) from 3 dataset(s)");

    List<String> whole = new java.util.ArrayList<>(common);
    whole.addAll(List.of("--output-prefix", tmp.resolve("parts/whole").toString()));
    assertThat(CliRun.of(whole.toArray(String[]::new)).exitCode()).isZero();
    for (String ext : List.of(".bin", ".idx")) {
      assertThat(Files.readAllBytes(tmp.resolve("parts/merged" + ext)))
          .isEqualTo(Files.readAllBytes(tmp.resolve("parts/whole_text_document" + ext)));
    }

    // a dataset already there is kept unless --overwrite says to replace it
    byte[] mergedIdx = Files.readAllBytes(tmp.resolve("parts/merged.idx"));
    List<String> mergeOne =
        List.of(
            "data",
            "merge",
            tmp.resolve("parts/0_text_document").toString(),
            "--output-prefix",
            tmp.resolve("parts/merged").toString());
    CliRun kept = CliRun.of(mergeOne.toArray(String[]::new));
    assertThat(kept.exitCode()).isEqualTo(1);
    assertThat(kept.err())
        .contains(
            tmp.resolve("parts/merged")
                + ".bin/.idx already exists: pass --overwrite to replace it");
    assertThat(Files.readAllBytes(tmp.resolve("parts/merged.idx"))).isEqualTo(mergedIdx);
    List<String> replacing = new java.util.ArrayList<>(mergeOne);
    replacing.add("--overwrite");
    assertThat(CliRun.of(replacing.toArray(String[]::new)).exitCode()).isZero();
    assertThat(Files.readAllBytes(tmp.resolve("parts/merged.idx"))).isNotEqualTo(mergedIdx);
    byte[] wholeBin = Files.readAllBytes(tmp.resolve("parts/whole_text_document.bin"));
    CliRun again = CliRun.of(whole.toArray(String[]::new));
    assertThat(again.exitCode()).isEqualTo(1);
    assertThat(again.err())
        .contains(
            tmp.resolve("parts/whole_text_document")
                + ".bin/.idx already exists: pass --overwrite to replace it, or give another"
                + " --output-prefix (nothing was written)");
    assertThat(Files.readAllBytes(tmp.resolve("parts/whole_text_document.bin")))
        .isEqualTo(wholeBin);
    CliRun noWait =
        CliRun.of(
            "data", "merge", "--wait", "-1", "x", "--output-prefix", tmp.resolve("w").toString());
    assertThat(noWait.err()).contains("--wait -1: seconds, 0 or more");

    CliRun badPart =
        CliRun.of(
            "prepare", "--part", "3/3", "--input", "x", "--tokenizer", "t", "--output-prefix", "o");
    assertThat(badPart.exitCode()).isEqualTo(2);
    assertThat(badPart.err()).contains("part 3/3: want I/N with N >= 1 and 0 <= I < N");
    CliRun missing =
        CliRun.of(
            "data",
            "merge",
            tmp.resolve("parts/absent").toString(),
            "--output-prefix",
            tmp.resolve("parts/m2").toString());
    assertThat(missing.exitCode()).isEqualTo(1);
    assertThat(missing.err())
        .contains(tmp.resolve("parts/absent").toString(), "nothing was written");
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

    String dir = tmp.resolve("bad") + "/";
    CliRun slash =
        CliRun.of(
            "prepare",
            "--input",
            input.toString(),
            "--tokenizer",
            tokenizerDir.toString(),
            "--output-prefix",
            dir);
    assertThat(slash.exitCode()).isEqualTo(1);
    assertThat(slash.err())
        .contains(
            "--output-prefix '"
                + dir
                + "' names no file: a prefix ends in a name, such as "
                + dir
                + "brown (which writes "
                + dir
                + "brown_text_document.bin/.idx)");
    assertThat(tmp.resolve("bad_text_document.idx")).doesNotExist();
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
  void encodeDecodeAndInspectTheTokenizer() throws Exception {
    CliRun encode =
        CliRun.of("tokenizer", "encode", "-t", tokenizerDir.toString(), "--bos", "the jury");
    assertThat(encode.exitCode()).as(encode.err()).isZero();
    String ids = encode.out().strip();
    assertThat(ids).startsWith("1 ");
    CliRun decode = CliRun.of("tokenizer", "decode", "-t", tokenizerDir.toString(), ids);
    assertThat(decode.out().strip()).isEqualTo("the jury");
    // lines from standard input are UTF-8 or refused, naming the line
    List<String> command = new java.util.ArrayList<>(dev.cria.cli.train.SmallCorpus.criaJvm());
    command.addAll(List.of("tokenizer", "encode", "-t", tokenizerDir.toString(), "--bos"));
    Process p = new ProcessBuilder(command).start();
    try (var stdin = p.getOutputStream()) {
      stdin.write("the jury\r\ncaf".getBytes(java.nio.charset.StandardCharsets.UTF_8));
      stdin.write(new byte[] {(byte) 0xe9, '\n', 'o', 'k', '\n'});
    }
    String stdout =
        new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    String stderr =
        new String(p.getErrorStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isEqualTo(1);
    assertThat(stdout.lines()).containsExactly(ids);
    assertThat(stderr)
        .contains("standard input, line 2: not valid UTF-8 (the lines before it were encoded)");
    CliRun inspect = CliRun.of("tokenizer", "inspect", tokenizerDir.toString());
    assertThat(inspect.out())
        .contains("vocab size    2000", "unk 0 \"<unk>\"", "bos 1 \"<s>\"", "eos 2 \"</s>\"");
  }
}
