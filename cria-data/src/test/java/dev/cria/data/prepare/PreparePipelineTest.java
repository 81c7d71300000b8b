package dev.cria.data.prepare;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.data.indexed.IndexedDataset;
import dev.cria.data.indexed.TokenDtype;
import dev.cria.data.tokenizer.TestTokenizers;
import dev.cria.data.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PreparePipelineTest {
  @TempDir Path tmp;
  Tokenizer tokenizer;

  @BeforeEach
  void setUp() throws IOException {
    tokenizer = TestTokenizers.tiny(tmp.resolve("tok"));
  }

  private static String json(String key, String value) {
    StringBuilder sb = new StringBuilder("{\"").append(key).append("\": \"");
    for (char c : value.toCharArray()) {
      if (c == '"' || c == '\\') {
        sb.append('\\').append(c);
      } else if (c < 0x20) {
        sb.append(String.format("\\u%04x", (int) c));
      } else {
        sb.append(c);
      }
    }
    return sb.append("\"}").toString();
  }

  private Path write(String name, List<String> lines) throws IOException {
    Path file = tmp.resolve(name);
    Files.write(file, lines, StandardCharsets.UTF_8);
    return file;
  }

  private PrepareSummary prepare(PrepareOptions options) throws Exception {
    return PreparePipeline.run(options, null);
  }

  private List<String> randomDocuments(int count, long seed) {
    Random r = new Random(seed);
    String[] words = {
      "the", "and", "a", "world", "Thin", "answer", "wood", "", "naïve", "한국어", "🙂", "x\ty"
    };
    List<String> docs = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      StringBuilder sb = new StringBuilder();
      int n = r.nextInt(30);
      for (int w = 0; w < n; w++) {
        sb.append(w == 0 ? "" : r.nextInt(10) == 0 ? "  " : " ")
            .append(words[r.nextInt(words.length)]);
      }
      docs.add(sb.toString());
    }
    return docs;
  }

  @Test
  void writesEachDocumentsIdsWithEosAndSkipsEmptyOnes() throws Exception {
    List<String> docs = List.of("the world", "", "and the answer", "🙂 wood");
    Path input = write("in.jsonl", docs.stream().map(d -> json("text", d)).toList());
    Path prefix = tmp.resolve("out/corpus");
    PrepareSummary summary =
        prepare(PrepareOptions.of(List.of(input), prefix, tokenizer, 2).withAppendEod(true));

    assertThat(summary.lines()).isEqualTo(4);
    assertThat(summary.datasets())
        .singleElement()
        .satisfies(d -> {
          assertThat(d.documents()).isEqualTo(3);
          assertThat(d.emptyDocuments()).isEqualTo(1);
          assertThat(d.prefix()).isEqualTo(tmp.resolve("out/corpus_text_document"));
        });
    try (IndexedDataset ds = IndexedDataset.open(tmp.resolve("out/corpus_text_document"))) {
      assertThat(ds.dtype()).isEqualTo(TokenDtype.UINT16);
      assertThat(ds.documentCount()).isEqualTo(3);
      int k = 0;
      for (String doc : docs) {
        if (doc.isEmpty()) {
          continue;
        }
        assertThat(ds.sequence(k++)).containsExactly(tokenizer.encode(doc, false, true));
      }
    }
  }

  @Test
  void outputIsIdenticalForAnyWorkerCountAndBatchSize() throws Exception {
    List<String> docs = randomDocuments(400, 1);
    Path a = write("a.jsonl", docs.subList(0, 250).stream().map(d -> json("text", d)).toList());
    Path b = write("b.jsonl", docs.subList(250, 400).stream().map(d -> json("text", d)).toList());
    PrepareOptions base =
        PrepareOptions.of(List.of(a, b), tmp.resolve("one"), tokenizer, 1).withAppendEod(true);
    prepare(base.withBatchBytes(1 << 20));
    prepare(
        new PrepareOptions(
            List.of(a, b),
            tmp.resolve("many"),
            tokenizer,
            List.of("text"),
            true,
            3,
            false,
            64,
            Part.WHOLE));

    for (String ext : List.of(".bin", ".idx")) {
      assertThat(Files.readAllBytes(tmp.resolve("many_text_document" + ext)))
          .isEqualTo(Files.readAllBytes(tmp.resolve("one_text_document" + ext)));
    }
    try (IndexedDataset ds = IndexedDataset.open(tmp.resolve("many_text_document"))) {
      int k = 0;
      for (String doc : docs) {
        int[] expected = tokenizer.encode(doc, false, true);
        if (expected.length > 1) {
          assertThat(ds.sequence(k++)).as("document %d", k).containsExactly(expected);
        }
      }
      assertThat(ds.documentCount()).isEqualTo(k);
    }
  }

  @Test
  void readsGzipAndGlobsInOrderAndALastLineWithoutNewline() throws Exception {
    Path dir = tmp.resolve("shards");
    Files.createDirectories(dir);
    try (OutputStream out =
        new GZIPOutputStream(Files.newOutputStream(dir.resolve("part-1.jsonl.gz")))) {
      out.write(
          (json("text", "the") + "\n" + json("text", "and")).getBytes(StandardCharsets.UTF_8));
    }
    Files.writeString(dir.resolve("part-2.jsonl"), json("text", "wood") + "\r\n\n   \n");
    List<Path> inputs = InputFiles.expand(List.of(dir + "/part-*"));
    assertThat(inputs)
        .extracting(p -> p.getFileName().toString())
        .containsExactly("part-1.jsonl.gz", "part-2.jsonl");

    PrepareSummary summary = prepare(PrepareOptions.of(inputs, tmp.resolve("g"), tokenizer, 2));
    assertThat(summary.lines()).isEqualTo(3);
    assertThat(summary.blankLines()).isEqualTo(2);
    try (IndexedDataset ds = IndexedDataset.open(tmp.resolve("g_text_document"))) {
      assertThat(ds.sequence(0)).containsExactly(tokenizer.encode("the"));
      assertThat(ds.sequence(1)).containsExactly(tokenizer.encode("and"));
      assertThat(ds.sequence(2)).containsExactly(tokenizer.encode("wood"));
    }
  }

  @Test
  void readsZstdMadeByTheZstdToolLikeThePlainFile() throws Exception {
    // brown-3.jsonl.zst was made from brown-3.jsonl by the zstd command-line tool (level 19).
    Path plain = resource("brown-3.jsonl");
    Path zst = resource("brown-3.jsonl.zst");
    prepare(PrepareOptions.of(List.of(plain), tmp.resolve("plain"), tokenizer, 2));
    prepare(PrepareOptions.of(List.of(zst), tmp.resolve("zst"), tokenizer, 2));
    for (String ext : List.of(".bin", ".idx")) {
      assertThat(Files.readAllBytes(tmp.resolve("zst_text_document" + ext)))
          .isEqualTo(Files.readAllBytes(tmp.resolve("plain_text_document" + ext)));
    }
    try (IndexedDataset ds = IndexedDataset.open(tmp.resolve("zst_text_document"))) {
      assertThat(ds.documentCount()).isEqualTo(3);
    }
  }

  private static Path resource(String name) throws Exception {
    return Path.of(PreparePipelineTest.class.getResource("/prepare/" + name).toURI());
  }

  @Test
  void writesOneDatasetPerJsonKey() throws Exception {
    Path input =
        write(
            "kv.jsonl",
            List.of(
                "{\"title\": \"the\", \"text\": \"and the world\", \"meta\": {\"x\": [1, 2]}}",
                "{\"text\": \"wood\", \"title\": \"\"}"));
    PrepareSummary summary =
        prepare(
            PrepareOptions.of(List.of(input), tmp.resolve("kv"), tokenizer, 1)
                .withJsonKeys(List.of("text", "title")));
    assertThat(summary.datasets())
        .extracting(PrepareSummary.Dataset::key)
        .containsExactly("text", "title");
    try (IndexedDataset text = IndexedDataset.open(tmp.resolve("kv_text_document"));
        IndexedDataset title = IndexedDataset.open(tmp.resolve("kv_title_document"))) {
      assertThat(text.documentCount()).isEqualTo(2);
      assertThat(title.documentCount()).isEqualTo(1);
      assertThat(title.sequence(0)).containsExactly(tokenizer.encode("the"));
    }
  }

  @Test
  void badLinesNameFileAndLineAndLeaveNoOutputAndKeepAnExistingDataset() throws Exception {
    Path good = write("good.jsonl", List.of(json("text", "the world")));
    Path prefix = tmp.resolve("keep");
    prepare(PrepareOptions.of(List.of(good), prefix, tokenizer, 1));
    byte[] bin = Files.readAllBytes(tmp.resolve("keep_text_document.bin"));
    byte[] idx = Files.readAllBytes(tmp.resolve("keep_text_document.idx"));

    record Case(byte[] line, String message) {}
    List<Case> cases =
        List.of(
            new Case("{\"text\": \"the\"".getBytes(StandardCharsets.UTF_8), "malformed JSON"),
            new Case(
                "{\"body\": \"the\"}".getBytes(StandardCharsets.UTF_8), "missing key \"text\""),
            new Case(
                "{\"text\": 42}".getBytes(StandardCharsets.UTF_8),
                "key \"text\" holds a number, expected a string"),
            new Case("[\"text\"]".getBytes(StandardCharsets.UTF_8), "not a JSON object"),
            new Case("{\"text\": \"a\"} x".getBytes(StandardCharsets.UTF_8), "malformed JSON"),
            new Case(
                new byte[] {'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xC3, '"', '}'},
                "invalid UTF-8 byte 0xC3 at byte 10"),
            new Case(
                new byte[] {
                  '{',
                  '"',
                  't',
                  'e',
                  'x',
                  't',
                  '"',
                  ':',
                  '"',
                  (byte) 0xED,
                  (byte) 0xA0,
                  (byte) 0x80,
                  '"',
                  '}'
                },
                "invalid UTF-8"));
    for (Case c : cases) {
      Path bad = tmp.resolve("bad.jsonl");
      try (OutputStream out = Files.newOutputStream(bad)) {
        out.write((json("text", "the") + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.write(c.line());
        out.write('\n');
        out.write((json("text", "and") + "\n").getBytes(StandardCharsets.UTF_8));
      }
      assertThatThrownBy(() -> prepare(PrepareOptions.of(List.of(good, bad), prefix, tokenizer, 2)))
          .isInstanceOf(BadInputException.class)
          .hasMessageStartingWith(bad + ":3: ")
          .hasMessageContaining(c.message());
      assertThat(Files.readAllBytes(tmp.resolve("keep_text_document.bin"))).isEqualTo(bin);
      assertThat(Files.readAllBytes(tmp.resolve("keep_text_document.idx"))).isEqualTo(idx);
      try (Stream<Path> files = Files.list(tmp)) {
        assertThat(files.map(p -> p.getFileName().toString()).filter(n -> n.contains("tmp-")))
            .isEmpty();
      }
    }
  }

  @Test
  void aDamagedOrTruncatedCompressedFileIsNamedAndNothingIsWritten() throws Exception {
    Path fake = tmp.resolve("fake.jsonl.gz");
    Files.writeString(fake, json("text", "not compressed") + "\n");
    assertThatThrownBy(
            () -> prepare(PrepareOptions.of(List.of(fake), tmp.resolve("f"), tokenizer, 2)))
        .isInstanceOf(java.io.IOException.class)
        .hasMessage(fake + ": not a gzip file (Not in GZIP format)");

    java.io.ByteArrayOutputStream whole = new java.io.ByteArrayOutputStream();
    try (OutputStream out = new GZIPOutputStream(whole)) {
      for (String d : randomDocuments(2000, 7)) {
        out.write((json("text", d) + "\n").getBytes(StandardCharsets.UTF_8));
      }
    }
    Path cut = tmp.resolve("cut.jsonl.gz");
    Files.write(cut, java.util.Arrays.copyOf(whole.toByteArray(), whole.size() / 2));
    assertThatThrownBy(() ->
            prepare(
                PrepareOptions.of(List.of(cut), tmp.resolve("c"), tokenizer, 2)
                    .withSkipBadLines(true)))
        .isInstanceOf(java.io.IOException.class)
        .hasMessageMatching(
            java.util.regex.Pattern.quote(cut.toString())
                + ": cannot be read( after line [0-9]+)?, truncated or damaged \\(.*\\)")
        .hasMessageContaining(", truncated or damaged (");
    try (Stream<Path> files = Files.list(tmp)) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .noneMatch(n -> n.startsWith("f_") || n.startsWith("c_") || n.contains("tmp-"));
    }
  }

  @Test
  void skipBadLinesCountsThemAndKeepsTheRest() throws Exception {
    Path input =
        write(
            "mixed.jsonl",
            List.of(json("text", "the"), "{oops", json("text", "and"), "{\"text\": null}"));
    PrepareSummary summary =
        prepare(
            PrepareOptions.of(List.of(input), tmp.resolve("s"), tokenizer, 2)
                .withSkipBadLines(true));
    assertThat(summary.badLines()).isEqualTo(2);
    assertThat(summary.badLineExamples()).hasSize(2).first().asString().startsWith(input + ":2: ");
    assertThat(summary.lines()).isEqualTo(2);
    try (IndexedDataset ds = IndexedDataset.open(tmp.resolve("s_text_document"))) {
      assertThat(ds.documentCount()).isEqualTo(2);
    }
  }

  @Test
  void missingInputsAreNamed() {
    assertThatThrownBy(() -> InputFiles.expand(List.of(tmp.resolve("nope.jsonl").toString())))
        .hasMessageContaining("nope.jsonl");
    assertThatThrownBy(() -> InputFiles.expand(List.of(tmp.resolve("*.nothing").toString())))
        .hasMessageContaining("*.nothing")
        .hasMessageContaining("no file matches");
  }

  @Test
  void progressReachesTheWholeInput() throws Exception {
    Path input =
        write("p.jsonl", randomDocuments(300, 5).stream().map(d -> json("text", d)).toList());
    List<PrepareProgress> seen = new ArrayList<>();
    prepare(
        PrepareOptions.of(List.of(input), tmp.resolve("p"), tokenizer, 2).withBatchBytes(512),
        seen::add);
    assertThat(seen).hasSizeGreaterThan(3);
    assertThat(seen.getLast().fraction()).isEqualTo(1.0);
    assertThat(seen.getLast().documents()).isEqualTo(300);
  }

  private PrepareSummary prepare(
      PrepareOptions options, java.util.function.Consumer<PrepareProgress> progress)
      throws Exception {
    return PreparePipeline.run(options, progress);
  }
}
