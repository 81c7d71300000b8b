package dev.cria.data.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.data.SharedData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The Llama-2 tokenizer from ../shared against SentencePiece's own ids. */
class Llama2TokenizerTest {
  private static Tokenizer spm;
  private static Tokenizer hf;

  @BeforeAll
  static void load() {
    Path dir = SharedData.require("data/llama2");
    spm = Tokenizers.load(dir.resolve("tokenizer.model"));
    hf = Tokenizers.load(dir.resolve("tokenizer.json"));
  }

  record Case(String text, int[] ids) {}

  static List<Case> cases() {
    Path file = SharedData.require("data/vectors/llama2_spm_cases.json");
    List<Case> out = new ArrayList<>();
    for (JsonNode c : JsonMapper.builder().build().readTree(file.toFile())) {
      int[] ids = new int[c.get("spm_ids").size()];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = c.get("spm_ids").get(i).intValue();
      }
      out.add(new Case(c.get("text").stringValue(), ids));
    }
    return out;
  }

  @Test
  void sentencePieceModelGivesSentencePieceIds() {
    for (Case c : cases()) {
      assertThat(spm.encode(c.text()))
          .as("ids of %s", Vocabulary.quote(c.text()))
          .containsExactly(c.ids());
    }
  }

  @Test
  void tokenizerJsonGivesSentencePieceIds() {
    for (Case c : cases()) {
      assertThat(hf.encode(c.text()))
          .as("ids of %s", Vocabulary.quote(c.text()))
          .containsExactly(c.ids());
    }
  }

  @Test
  void decodeInvertsEncodeOnTheCases() {
    for (Case c : cases()) {
      assertThat(spm.decode(c.ids())).isEqualTo(c.text());
    }
  }

  @Test
  void bothFormatsAgreeOnSpecialsAndSize() {
    assertThat(spm.vocabSize()).isEqualTo(32000);
    assertThat(hf.vocabSize()).isEqualTo(32000);
    assertThat(spm.specials()).isEqualTo(SpecialTokens.llama());
    assertThat(hf.specials()).isEqualTo(SpecialTokens.llama());
    assertThat(spm.byteFallback()).isTrue();
    assertThat(spm.normalizer()).isEqualTo(Normalizer.llama());
    assertThat(hf.normalizer()).isEqualTo(Normalizer.llama());
  }

  @Test
  void bosAndEosOnlyWhenAsked() {
    assertThat(spm.encode("Hello world", true, true)).containsExactly(1, 15043, 3186, 2);
    assertThat(spm.encode("Hello world")).containsExactly(15043, 3186);
  }
}
