package dev.cria.data.prepare;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.data.indexed.IndexedDataset;
import dev.cria.data.indexed.IndexedDatasetMerge;
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
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A corpus prepared in parts ({@code --part I/N}) and merged is the corpus prepared whole, byte for
 * byte: over several files (one gzipped, one without a last line break), blank and empty lines, two
 * JSON keys, more parts than lines; a failed part leaves nothing and is redone alone.
 */
class PreparePartsTest {
  @TempDir Path tmp;
  Tokenizer tokenizer;
  List<Path> inputs;

  @BeforeEach
  void setUp() throws IOException {
    tokenizer = TestTokenizers.tiny(tmp.resolve("tok"));
    Random r = new Random(5);
    String[] words = {"the", "and", "a", "world", "answer", "wood", "naïve", "🙂"};
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 137; i++) {
      StringBuilder text = new StringBuilder();
      for (int w = r.nextInt(12); w > 0; w--) {
        text.append(words[r.nextInt(words.length)]).append(' ');
      }
      lines.add(i % 17 == 3 ? "" : "{\"text\": \"" + text + "\", \"title\": \"n" + i + "\"}");
    }
    Path a = Files.write(tmp.resolve("a.jsonl"), lines.subList(0, 50), StandardCharsets.UTF_8);
    Path b = tmp.resolve("b.jsonl.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(b))) {
      out.write((String.join("\n", lines.subList(50, 90)) + "\n").getBytes(StandardCharsets.UTF_8));
    }
    Path c = tmp.resolve("c.jsonl"); // no line break after its last line
    Files.writeString(c, String.join("\n", lines.subList(90, lines.size())));
    inputs = List.of(a, b, c);
  }

  private PrepareOptions options(String prefix) {
    return PrepareOptions.of(inputs, tmp.resolve(prefix), tokenizer, 2)
        .withJsonKeys(List.of("text", "title"))
        .withAppendEod(true)
        .withBatchBytes(300);
  }

  private void assertSameFiles(Path expected, Path actual) throws IOException {
    for (String ext : List.of(".bin", ".idx")) {
      assertThat(Files.readAllBytes(Path.of(actual + ext)))
          .as("%s%s", actual, ext)
          .isEqualTo(Files.readAllBytes(Path.of(expected + ext)));
    }
  }

  @Test
  void partsMergedInOrderAreTheWholeByteForByte() throws Exception {
    PreparePipeline.run(options("whole"), null);
    for (int n : new int[] {1, 2, 3, 7, 200}) {
      for (String key : List.of("text", "title")) {
        List<Path> parts = new ArrayList<>();
        long documents = 0;
        for (int i = 0; i < n; i++) {
          PrepareOptions o = options("n" + n + "-part" + i).withPart(new Part(i, n));
          PrepareSummary s = PreparePipeline.run(o, null);
          parts.add(o.datasetPrefix(key));
          documents += s.datasets().get(key.equals("text") ? 0 : 1).documents();
        }
        Path merged = tmp.resolve("n" + n + "-" + key + "-merged");
        IndexedDatasetMerge.Result r = IndexedDatasetMerge.merge(parts, merged, null);
        assertThat(r.documents()).isEqualTo(documents);
        assertSameFiles(options("whole").datasetPrefix(key), merged);
      }
    }
    // 200 parts of 137 lines: some hold no line, and are empty datasets rather than failures
    try (IndexedDataset empty = IndexedDataset.open(tmp.resolve("n200-part0_text_document"))) {
      assertThat(empty.documentCount()).isZero();
    }
  }

  @Test
  void eachLineIsInExactlyOnePart() {
    for (long lines : new long[] {0, 1, 2, 137, 1L << 40, Long.MAX_VALUE}) {
      for (int n : new int[] {1, 3, 8, 1000}) {
        long next = 0;
        for (int i = 0; i < n; i++) {
          Part p = new Part(i, n);
          assertThat(p.firstLine(lines)).as("%d lines, part %s", lines, p).isEqualTo(next);
          assertThat(p.endLine(lines)).isGreaterThanOrEqualTo(next);
          assertThat(p.endLine(lines) - p.firstLine(lines))
              .isLessThanOrEqualTo(lines / n + (lines % n == 0 ? 0 : 1)); // at most ceil(L / N)
          next = p.endLine(lines);
        }
        assertThat(next).as("%d lines in %d parts", lines, n).isEqualTo(lines);
      }
    }
  }

  @Test
  void aPartIsReadAsIOfN() {
    assertThat(Part.parse("2/8")).isEqualTo(new Part(2, 8));
    assertThat(Part.parse(" 0 / 1 ")).isEqualTo(Part.WHOLE);
    for (String bad : List.of("8/8", "-1/3", "1/0", "3", "a/b", "1/2/3")) {
      assertThatThrownBy(() -> Part.parse(bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("I/N");
    }
  }

  @Test
  void aFailedPartLeavesNothingAndIsRedoneAlone() throws Exception {
    Path broken = tmp.resolve("broken.jsonl");
    List<String> lines = new ArrayList<>(Files.readAllLines(inputs.getFirst()));
    lines.set(40, "{\"text\": \"unterminated");
    Files.write(broken, lines);
    List<Path> withBroken = List.of(broken, inputs.get(1), inputs.get(2));
    PrepareOptions part0 =
        PrepareOptions.of(withBroken, tmp.resolve("p0"), tokenizer, 2).withPart(new Part(0, 2));
    assertThatThrownBy(() -> PreparePipeline.run(part0, null))
        .isInstanceOf(BadInputException.class)
        .hasMessageContaining(broken + ":41:");
    try (var left = Files.list(tmp)) {
      assertThat(left.map(f -> f.getFileName().toString())).noneMatch(f -> f.startsWith("p0"));
    }
    // the other part never reads line 41's tokens: it prepares without error
    PrepareOptions part1 =
        PrepareOptions.of(withBroken, tmp.resolve("p1"), tokenizer, 2).withPart(new Part(1, 2));
    PreparePipeline.run(part1, null);
    // the line mended, part 0 alone is redone, and the merge is the whole
    Files.copy(inputs.getFirst(), broken, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    PreparePipeline.run(part0, null);
    PreparePipeline.run(PrepareOptions.of(withBroken, tmp.resolve("all"), tokenizer, 2), null);
    Path merged = tmp.resolve("merged");
    IndexedDatasetMerge.merge(
        List.of(part0.datasetPrefix("text"), part1.datasetPrefix("text")), merged, null);
    assertSameFiles(tmp.resolve("all_text_document"), merged);
  }
}
