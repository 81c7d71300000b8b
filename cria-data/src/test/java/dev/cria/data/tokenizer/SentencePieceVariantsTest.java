package dev.cria.data.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * SentencePiece models unlike Llama's, trained by SentencePiece itself on the bundled Brown sample
 * ({@code tools/make_spm_variants.py}, Debian's python3-sentencepiece): no byte fallback, no dummy
 * prefix, extra whitespace removed, user-defined and control pieces, pieces across words, UNUSED
 * pieces, spaces not escaped. cria must give SentencePiece's ids for each, read from the model file
 * and from both files cria writes for it. Skips, saying why, without python3-sentencepiece.
 */
class SentencePieceVariantsTest {
  @TempDir Path tmp;

  private static Path models;

  private static String skipped;

  /**
   * Trains the models once per version of the script: into {@code target/spm-variants/<its hash>},
   * kept for the next run (mutation testing runs this class once per mutant).
   */
  @BeforeAll
  static void trainTheModels() throws Exception {
    Path root = Path.of("").toAbsolutePath().getParent();
    Path script = root.resolve("tools/make_spm_variants.py");
    String hash =
        java.util.HexFormat.of()
            .formatHex(
                java.security.MessageDigest.getInstance("SHA-256")
                    .digest(Files.readAllBytes(script)),
                0,
                8);
    models = Path.of("target", "spm-variants", hash).toAbsolutePath();
    if (Files.exists(models.resolve("done"))) {
      return;
    }
    Path partial = Files.createTempDirectory(Files.createDirectories(models.getParent()), "new-");
    Process p =
        new ProcessBuilder(
                "/usr/bin/python3",
                script.toString(),
                "--corpus",
                root.resolve("data/sample/brown.jsonl.gz").toString(),
                "--output",
                partial.toString())
            .redirectErrorStream(true)
            .start();
    String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).as(log).isTrue();
    if (p.exitValue() == 3) {
      skipped = "skipped: " + log.strip();
      return;
    }
    assertThat(p.exitValue()).as(log).isZero();
    Files.writeString(partial.resolve("done"), log);
    try {
      Files.move(partial, models, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } catch (java.nio.file.FileAlreadyExistsException
        | java.nio.file.DirectoryNotEmptyException e) {
      models = partial; // another run finished first: use this one's
    }
  }

  private static Map<String, int[]> cases(String name) throws Exception {
    Map<String, int[]> cases = new LinkedHashMap<>();
    for (JsonNode c : JsonMapper.builder().build().readTree(models.resolve(name + ".json"))) {
      int[] ids = new int[c.get("ids").size()];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = c.get("ids").get(i).intValue();
      }
      cases.put(c.get("text").stringValue(), ids);
    }
    assertThat(cases).as("%s's cases", name).hasSizeGreaterThan(500);
    return cases;
  }

  @ParameterizedTest
  @ValueSource(strings = {"plain", "nosplit", "unused", "noescape"})
  void criaGivesSentencePiecesIdsForModelsUnlikeLlamas(String name) throws Exception {
    assumeTrue(skipped == null, () -> skipped);
    Tokenizer read = Tokenizers.load(models.resolve(name + ".model"));
    Path saved = tmp.resolve(name + "-saved");
    Tokenizers.save(read, saved);
    List<Tokenizer> forms = new ArrayList<>(List.of(read));
    forms.add(Tokenizers.load(saved.resolve("tokenizer.model")));
    // a tokenizer.json cannot strip spaces as SentencePiece does, nor hold UNUSED pieces
    boolean json = name.equals("nosplit") || name.equals("noescape");
    assertThat(saved.resolve("tokenizer.json"))
        .as(name)
        .satisfies(f -> assertThat(Files.exists(f)).isEqualTo(json));
    if (json) {
      forms.add(Tokenizers.load(saved.resolve("tokenizer.json")));
    } else {
      assertThatThrownBy(() -> HfTokenizerJsonFile.write(read))
          .isInstanceOf(TokenizerFormatException.class)
          .hasMessageContaining(name.equals("plain") ? "remove_extra_whitespaces" : "UNUSED");
    }
    Map<String, int[]> cases = cases(name);
    for (Tokenizer t : forms) {
      for (Map.Entry<String, int[]> c : cases.entrySet()) {
        assertThat(t.encode(c.getKey()))
            .as("%s, %s, on %s", name, t.description(), Vocabulary.quote(c.getKey()))
            .containsExactly(c.getValue());
      }
    }
  }
}
