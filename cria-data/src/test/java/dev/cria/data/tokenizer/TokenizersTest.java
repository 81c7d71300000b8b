package dev.cria.data.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A tokenizer saved as a model directory and loaded back from it, from each of its files, and told
 * apart by content, not by name; its tokenizer_config.json as Hugging Face's LlamaTokenizerFast
 * reads it.
 */
class TokenizersTest {
  @TempDir Path tmp;

  private static Tokenizer trained() {
    BpeTrainer trainer = new BpeTrainer(BpeTrainer.Options.defaults(300));
    for (String doc :
        List.of(
            "The jury said the election was conducted.",
            "The city's recent primary election was praised by the jury.",
            "Merger proposed; the jury recommended it, and the city agreed.")) {
      for (int i = 0; i < 20; i++) {
        trainer.addDocument(doc);
      }
    }
    return trainer.train(null);
  }

  @Test
  void aSavedDirectoryLoadsBackFromItselfAndFromEachFileAlike() throws IOException {
    Tokenizer t = trained();
    Path dir = tmp.resolve("tok");
    Tokenizers.save(t, dir);
    try (var files = Files.list(dir)) {
      assertThat(files.map(f -> f.getFileName().toString()))
          .containsExactlyInAnyOrder("tokenizer.model", "tokenizer.json", "tokenizer_config.json");
    }
    String text = "The jury praised the merger; the city's election was conducted.";
    int[] ids = t.encode(text);
    assertThat(ids.length).isLessThan(text.length()); // merges were learned and used
    for (Path p : List.of(dir, dir.resolve("tokenizer.model"), dir.resolve("tokenizer.json"))) {
      Tokenizer back = Tokenizers.load(p);
      assertThat(back.encode(text)).as(p.toString()).containsExactly(ids);
      assertThat(back.decode(ids)).isEqualTo(text);
      assertThat(back.vocabSize()).isEqualTo(t.vocabSize());
    }
    // the format is told by content: a tokenizer.json under another name is still JSON
    Path renamed = Files.copy(dir.resolve("tokenizer.json"), tmp.resolve("tokenizer.bin"));
    assertThat(Tokenizers.directoryName(renamed)).isEqualTo("tokenizer.json");
    assertThat(Tokenizers.directoryName(dir.resolve("tokenizer.model")))
        .isEqualTo("tokenizer.model");
    assertThat(Tokenizers.load(renamed).encode(text)).containsExactly(ids);
    // a directory with only the JSON loads from it
    Files.delete(dir.resolve("tokenizer.model"));
    assertThat(Tokenizers.load(dir).encode(text)).containsExactly(ids);
  }

  @Test
  void runsOfUnknownsFuseAsFuseUnkSaysAndASaveKeepsWhatTheFormsCanHold() throws IOException {
    String text = "The jury, ééé done";
    for (boolean fuse : new boolean[] {true, false}) {
      JsonMapper json = JsonMapper.builder().build();
      var root =
          (tools.jackson.databind.node.ObjectNode)
              json.readTree(HfTokenizerJsonFile.write(trained()));
      ((tools.jackson.databind.node.ObjectNode) root.get("model"))
          .put("byte_fallback", false)
          .put("fuse_unk", fuse);
      Path file = Files.writeString(tmp.resolve("fuse-" + fuse + ".json"), root.toString());
      Tokenizer t = Tokenizers.load(file);
      assertThat(t.fusesUnknowns()).isEqualTo(fuse);
      int[] ids = t.encode(text);
      int unknowns = (int) java.util.Arrays.stream(ids).filter(id -> id == 0).count();
      assertThat(unknowns)
          .as("fuse_unk %s: %s", fuse, java.util.Arrays.toString(ids))
          .isEqualTo(fuse ? 1 : 3);
      assertThat(t.decode(ids)).isEqualTo("The jury, " + " \u2047 ".repeat(unknowns) + " done");

      Path dir = tmp.resolve("saved-" + fuse);
      Tokenizers.save(t, dir);
      assertThat(Files.exists(dir.resolve("tokenizer.model")))
          .as("SentencePiece always fuses: a model only for fuse_unk true")
          .isEqualTo(fuse);
      assertThat(Tokenizers.load(dir.resolve("tokenizer.json")).encode(text)).containsExactly(ids);
      assertThat(Tokenizers.load(dir).encode(text)).containsExactly(ids);
      if (!fuse) {
        assertThatThrownBy(() -> SentencePieceModelFile.write(t))
            .isInstanceOf(TokenizerFormatException.class)
            .hasMessageContaining("fuse_unk false");
      }
    }
  }

  @Test
  void theMergeCountsOfATrainedTokenizer() {
    Tokenizer t = trained();
    assertThat(t.mergedPieceCount()).isPositive().isLessThanOrEqualTo(t.mergeRuleCount());
    Vocabulary v = t.vocabulary();
    long multi =
        java.util.stream.IntStream.range(0, v.size())
            .filter(id ->
                v.type(id).isMergeable() && v.piece(id).codePointCount(0, v.piece(id).length()) > 1)
            .count();
    assertThat(t.mergedPieceCount()).isEqualTo(multi);
  }

  @Test
  void theConfigNamesTheSpecialTokensAsLlamaTokenizerFastReadsThem() {
    JsonNode config =
        JsonMapper.builder().build().readTree(HfTokenizerJsonFile.writeConfig(trained()));
    assertThat(config.path("tokenizer_class").asString()).isEqualTo("LlamaTokenizerFast");
    assertThat(config.path("add_bos_token").asBoolean()).isTrue();
    assertThat(config.path("add_eos_token").asBoolean(true)).isFalse();
    assertThat(config.path("unk_token").asString()).isEqualTo("<unk>");
    assertThat(config.path("bos_token").asString()).isEqualTo("<s>");
    assertThat(config.path("eos_token").asString()).isEqualTo("</s>");
    assertThat(config.path("pad_token").isNull()).isTrue();
  }

  @Test
  void missingAndEmptyDirectoriesAreNamed() throws IOException {
    assertThatThrownBy(() -> Tokenizers.load(tmp.resolve("absent.model")))
        .isInstanceOf(TokenizerFormatException.class)
        .hasMessage(tmp.resolve("absent.model") + ": no such tokenizer file");
    Path empty = Files.createDirectories(tmp.resolve("empty"));
    assertThatThrownBy(() -> Tokenizers.load(empty))
        .isInstanceOf(TokenizerFormatException.class)
        .hasMessage(empty + ": directory has neither tokenizer.model nor tokenizer.json");
    // a damaged tokenizer.model is not passed over silently for the tokenizer.json beside it
    Path both = Files.createDirectories(tmp.resolve("both"));
    Files.write(both.resolve("tokenizer.model"), new byte[0]);
    Files.writeString(both.resolve("tokenizer.json"), "{}");
    assertThatThrownBy(() -> Tokenizers.load(both))
        .isInstanceOf(TokenizerFormatException.class)
        .hasMessageStartingWith(both.resolve("tokenizer.model") + ": ")
        .hasMessageEndingWith(
            " (the directory also holds tokenizer.json, read only when tokenizer.model is absent:"
                + " name "
                + both.resolve("tokenizer.json")
                + " to use it)");
  }
}
