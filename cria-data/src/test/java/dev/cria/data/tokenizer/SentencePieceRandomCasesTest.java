package dev.cria.data.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.data.SharedData;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Thousands of random strings encoded by SentencePiece itself ({@code tools/make_spm_cases.py},
 * Debian's python3-sentencepiece) against cria, with both Llama-2 tokenizer files. Skips, saying
 * why, without ../shared or python3-sentencepiece.
 */
class SentencePieceRandomCasesTest {
  @TempDir Path tmp;

  @Test
  void criaGivesSentencePiecesIdsOnRandomStrings() throws Exception {
    Path dir = SharedData.require("data/llama2");
    Path script = Path.of("").toAbsolutePath().getParent().resolve("tools/make_spm_cases.py");
    assumeTrue(
        Files.isRegularFile(script) && Files.isExecutable(Path.of("/usr/bin/python3")),
        "skipped: tools/make_spm_cases.py or /usr/bin/python3 is absent");
    Path cases = tmp.resolve("cases.json");
    Process p =
        new ProcessBuilder(
                "/usr/bin/python3",
                script.toString(),
                "--tokenizer",
                dir.resolve("tokenizer.model").toString(),
                "--count",
                "5000",
                "--seed",
                "7",
                "--output",
                cases.toString())
            .redirectErrorStream(true)
            .start();
    String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assumeTrue(p.exitValue() != 3, () -> "skipped: " + log.strip());
    assertThat(p.exitValue()).as(log).isZero();

    Tokenizer spm = Tokenizers.load(dir.resolve("tokenizer.model"));
    Tokenizer hf = Tokenizers.load(dir.resolve("tokenizer.json"));
    int count = 0;
    for (JsonNode c : JsonMapper.builder().build().readTree(cases.toFile())) {
      String text = c.get("text").stringValue();
      int[] expected = new int[c.get("ids").size()];
      for (int i = 0; i < expected.length; i++) {
        expected[i] = c.get("ids").get(i).intValue();
      }
      assertThat(spm.encode(text))
          .as("tokenizer.model on %s", Vocabulary.quote(text))
          .containsExactly(expected);
      assertThat(hf.encode(text))
          .as("tokenizer.json on %s", Vocabulary.quote(text))
          .containsExactly(expected);
      // U+2581 in the input decodes as a space, as in SentencePiece
      assertThat(spm.decode(expected)).isEqualTo(text.replace('\u2581', ' '));
      count++;
    }
    assertThat(count).isEqualTo(5000);
  }
}
