package dev.cria.data.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.data.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Properties over many generated strings: decode inverts encode, the optimized encoder equals the
 * naive reference, and the two file formats agree. Seeded, so a failure reproduces.
 */
class TokenizerPropertiesTest {
  private static final int CASES = 3000;
  @TempDir Path tmp;

  /**
   * Strings mixing ASCII words, runs of spaces, newlines, tabs, controls, accents, CJK, Hangul,
   * emoji.
   */
  static String randomText(Random r) {
    String[] atoms = {
      "the", "The", " ", "  ", "\n", "\t", "a", "world", "Hello", "naïve", "café", "日本語", "한국어",
          "🙂", "👩‍💻",
      "\u0000", "\u0007", "\u007F", "x", "1234", "3.14", "<s>", "</s>", "<unk>", "ß", "Ω", "\r\n",
          "é", "\u00A0", "𝔘"
    };
    StringBuilder sb = new StringBuilder();
    int n = r.nextInt(12);
    for (int i = 0; i < n; i++) {
      if (r.nextInt(5) == 0) {
        sb.appendCodePoint(randomCodePoint(r));
      } else {
        sb.append(atoms[r.nextInt(atoms.length)]);
      }
    }
    return sb.toString();
  }

  private static int randomCodePoint(Random r) {
    while (true) {
      int cp =
          switch (r.nextInt(4)) {
            case 0 -> r.nextInt(0x80);
            case 1 -> r.nextInt(0x800);
            case 2 -> r.nextInt(0x10000);
            default -> r.nextInt(0x110000);
          };
      if ((cp < 0xD800 || cp > 0xDFFF) && cp != Normalizer.SPACE_SYMBOL) {
        return cp;
      }
    }
  }

  private static void checkRoundTripAndReference(Tokenizer t, long seed) {
    Random r = new Random(seed);
    for (int i = 0; i < CASES; i++) {
      String s = randomText(r);
      int[] ids = t.encode(s);
      assertThat(t.decode(ids)).as("decode(encode(%s))", Vocabulary.quote(s)).isEqualTo(s);
      assertThat(ids)
          .as("encode(%s) vs naive reference", Vocabulary.quote(s))
          .containsExactly(NaiveBpe.encode(t, s));
    }
  }

  @Test
  void tinyTokenizerRoundTripsAndMatchesReference() throws IOException {
    checkRoundTripAndReference(TestTokenizers.tiny(tmp), 11);
  }

  @Test
  void llama2RoundTripsAndMatchesReference() {
    Path dir = SharedData.require("data/llama2");
    checkRoundTripAndReference(Tokenizers.load(dir.resolve("tokenizer.model")), 12);
  }

  @Test
  void llama2FormatsAgreeOnRandomText() {
    Path dir = SharedData.require("data/llama2");
    Tokenizer spm = Tokenizers.load(dir.resolve("tokenizer.model"));
    Tokenizer hf = Tokenizers.load(dir.resolve("tokenizer.json"));
    Random r = new Random(13);
    for (int i = 0; i < CASES; i++) {
      String s = randomText(r);
      assertThat(hf.encode(s)).as("ids of %s", Vocabulary.quote(s)).containsExactly(spm.encode(s));
    }
  }

  @Test
  void loneSurrogatesAreEncodedAsTheReplacementCharacter() throws IOException {
    Tokenizer t = TestTokenizers.tiny(tmp);
    assertThat(t.encode("a\uD800b")).containsExactly(t.encode("a\uFFFDb"));
    assertThat(t.encode("\uDC00")).containsExactly(t.encode("\uFFFD"));
    assertThat(t.decode(t.encode("x\uD83D"))).isEqualTo("x\uFFFD");
  }

  @Test
  void unknownCharactersFallBackToTheirUtf8Bytes() throws IOException {
    Tokenizer t = TestTokenizers.tiny(tmp);
    Vocabulary v = t.vocabulary();
    // "▁" then the four bytes of U+1F642 (F0 9F 99 82)
    assertThat(t.encode("🙂"))
        .containsExactly(v.id("▁"), v.byteId(0xF0), v.byteId(0x9F), v.byteId(0x99), v.byteId(0x82));
    assertThat(t.encode("the")).containsExactly(v.id("▁the"));
    assertThat(t.encode("")).isEmpty();
  }

  @Test
  void decodeRejectsIdsOutsideTheVocabulary() throws IOException {
    Tokenizer t = TestTokenizers.tiny(tmp);
    assertThatThrownBy(() -> t.decode(new int[] {t.vocabSize()}))
        .hasMessageContaining("outside the vocabulary");
  }

  @Test
  void loadingNamesTheFileAndTheProblem() throws IOException {
    assertThatThrownBy(() -> Tokenizers.load(tmp.resolve("missing.model")))
        .isInstanceOf(TokenizerFormatException.class)
        .hasMessageContaining("missing.model");
    Path garbage = tmp.resolve("garbage.model");
    Files.write(garbage, new byte[] {0x0A, 0x7F, 0x01});
    assertThatThrownBy(() -> Tokenizers.load(garbage))
        .isInstanceOf(TokenizerFormatException.class)
        .hasMessageContaining("garbage.model");
    Path badJson = tmp.resolve("tokenizer.json");
    Files.writeString(badJson, "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
    assertThatThrownBy(() -> Tokenizers.load(badJson))
        .isInstanceOf(TokenizerFormatException.class)
        .hasMessageContaining("malformed JSON");
    Path jsonl = tmp.resolve("docs.jsonl");
    Files.writeString(jsonl, "{\"text\": \"a\"}\n{\"text\": \"b\"}\n");
    assertThatThrownBy(() -> Tokenizers.load(jsonl))
        .isInstanceOf(TokenizerFormatException.class)
        .hasMessage(
            jsonl
                + ": more than one JSON value (line 2); a tokenizer.json is one JSON object (is"
                + " this a JSONL corpus?)");
    Files.writeString(badJson, "{\"model\": {\"type\": \"Unigram\"}}");
    assertThatThrownBy(() -> Tokenizers.load(badJson)).hasMessageContaining("Unigram");
    assertThatThrownBy(() ->
            Tokenizers.load(
                tmp.resolve("emptydir").toFile().mkdir() ? tmp.resolve("emptydir") : null))
        .hasMessageContaining("neither tokenizer.model nor tokenizer.json");
  }
}
