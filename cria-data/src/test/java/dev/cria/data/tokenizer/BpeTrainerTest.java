package dev.cria.data.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.json.JsonMapper;

class BpeTrainerTest {
  private static final String SPACE = String.valueOf(Normalizer.SPACE_SYMBOL);
  private static final int VOCAB = 1200;

  private static List<String> corpus;
  private static Tokenizer trained;
  private static BpeTrainer trainer;

  @BeforeAll
  static void train() {
    corpus = corpus(new Random(42), 1500);
    trainer = new BpeTrainer(BpeTrainer.Options.defaults(VOCAB));
    corpus.forEach(trainer::addDocument);
    trained = trainer.train(null);
  }

  // ---- a small synthetic corpus: Zipf-distributed words, numbers, punctuation, some code ----

  private static final String[] COMMON =
      ("the of and to a in is that for it as was with be by on not he I this are or his from at "
              + "which but have an they you were her she there been one all we their has would when if "
              + "so no will more out up into do any your what time its only could new them man some "
              + "these then two first may any like now my such make over our even most me state after "
              + "also made many did must before back see through way where get much go well your know "
              + "government people year years world because between house program development national "
              + "information international technology understanding")
          .split(" ");
  private static final String[] SYLLABLES =
      "ka to ri su me no ha la ve qu zi po ter ing ed ion ous ment pre con dis".split(" ");

  static List<String> corpus(Random random, int documents) {
    List<String> tail = new ArrayList<>();
    for (int i = 0; i < 400; i++) {
      StringBuilder w = new StringBuilder();
      for (int s = 1 + random.nextInt(4); s > 0; s--) {
        w.append(SYLLABLES[random.nextInt(SYLLABLES.length)]);
      }
      tail.add(w.toString());
    }
    List<String> docs = new ArrayList<>();
    for (int d = 0; d < documents; d++) {
      StringBuilder doc = new StringBuilder();
      if (d % 10 == 0) {
        doc.append("def f")
            .append(d)
            .append("(x):\n    if x > 1:\n        return x * 2\n    return x\n");
        docs.add(doc.toString());
        continue;
      }
      int words = 20 + random.nextInt(80);
      for (int i = 0; i < words; i++) {
        if (i > 0) {
          doc.append(random.nextInt(50) == 0 ? "  " : " ");
        }
        int r = random.nextInt(100);
        if (r < 70) {
          // Zipf-ish: low indices much more often
          int k =
              (int)
                  Math.min(
                      COMMON.length - 1,
                      Math.floor(Math.pow(random.nextDouble(), 3) * COMMON.length));
          String w = COMMON[k];
          doc.append(i == 0 ? Character.toUpperCase(w.charAt(0)) + w.substring(1) : w);
        } else if (r < 90) {
          doc.append(tail.get((int) (Math.pow(random.nextDouble(), 2) * tail.size())));
        } else if (r < 95) {
          doc.append(1900 + random.nextInt(125));
        } else if (r < 97) {
          doc.append('$').append(random.nextInt(1000)).append('.').append(random.nextInt(100));
        } else if (r < 99) {
          doc.append(random.nextBoolean() ? "café" : "naïve");
        } else {
          doc.append("\"quoted\"");
        }
        if (random.nextInt(12) == 0) {
          doc.append(random.nextBoolean() ? "," : ".");
        }
      }
      doc.append(d % 7 == 0 ? ".\n\nNext paragraph here." : ".");
      if (d == 3) {
        doc.append(" Ж"); // one rare character: below the coverage threshold
      }
      docs.add(doc.toString());
    }
    return docs;
  }

  private static int mergeCount(Tokenizer t) {
    Vocabulary v = t.vocabulary();
    int n = 0;
    for (int id = BpeTrainer.RESERVED_PIECES; id < v.size(); id++) {
      if (v.piece(id).codePointCount(0, v.piece(id).length()) > 1) {
        n++;
      }
    }
    return n;
  }

  // ---- options ----

  @Test
  void optionsDefaultsAreLlamas() {
    BpeTrainer.Options o = BpeTrainer.Options.defaults(32000);
    assertThat(o.vocabSize()).isEqualTo(32000);
    assertThat(o.characterCoverage()).isEqualTo(0.9995);
    assertThat(o.maxPieceLength()).isEqualTo(16);
    assertThat(o.splitDigits()).isTrue();
  }

  @Test
  void optionsRejectBadValuesNamingTheField() {
    assertThatThrownBy(() -> BpeTrainer.Options.defaults(259))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("the vocabulary size (--vocab-size)")
        .hasMessageContaining("259");
    assertThatThrownBy(() -> new BpeTrainer.Options(1000, 0, 16, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("the character coverage (--character-coverage)");
    assertThatThrownBy(() -> new BpeTrainer.Options(1000, 1.5, 16, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("the character coverage (--character-coverage)");
    assertThatThrownBy(() -> new BpeTrainer.Options(1000, Double.NaN, 16, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("the character coverage (--character-coverage)");
    assertThatThrownBy(() -> new BpeTrainer.Options(1000, 1.0, 0, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("the longest piece (--max-piece-length)");
    assertThatThrownBy(() -> new BpeTrainer(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("options");
  }

  // ---- counting ----

  @Test
  void countsDocumentsAndWordsAsSentencePieceSplitsThem() {
    BpeTrainer t = new BpeTrainer(BpeTrainer.Options.defaults(300));
    t.addDocument("a b  c");
    t.addDocument("");
    t.addDocument("b a");
    // "▁a▁b▁▁c": "▁a", "▁b", "▁▁c" (a run of spaces stays with the next word); "▁b▁a": two more
    assertThat(t.documentCount()).isEqualTo(3);
    assertThat(t.wordCount()).isEqualTo(5);
    assertThat(t.distinctWordCount()).isEqualTo(3);
    assertThat(t.mergeCount()).isEqualTo(-1);
  }

  @Test
  void longWordsAreCountedInBoundedParts() {
    BpeTrainer t = new BpeTrainer(BpeTrainer.Options.defaults(300));
    t.addDocument("x".repeat(600)); // "▁" + 600 x: 601 characters
    assertThat(t.wordCount()).isEqualTo(3);
    t.addDocument("😀".repeat(300)); // supplementary: counted in code points, never split apart
    assertThat(t.wordCount()).isEqualTo(5);
    Tokenizer tok = t.train(null);
    assertThat(tok.decode(tok.encode("😀".repeat(300)))).isEqualTo("😀".repeat(300));
  }

  // ---- the vocabulary ----

  @Test
  void vocabularyIsLaidOutAsLlamas() {
    Vocabulary v = trained.vocabulary();
    assertThat(v.size()).isEqualTo(VOCAB);
    assertThat(v.piece(0)).isEqualTo("<unk>");
    assertThat(v.type(0)).isEqualTo(PieceType.UNKNOWN);
    assertThat(v.piece(1)).isEqualTo("<s>");
    assertThat(v.type(1)).isEqualTo(PieceType.CONTROL);
    assertThat(v.piece(2)).isEqualTo("</s>");
    assertThat(v.type(2)).isEqualTo(PieceType.CONTROL);
    for (int b = 0; b < 256; b++) {
      assertThat(v.piece(3 + b)).isEqualTo(Vocabulary.bytePiece(b));
      assertThat(v.type(3 + b)).isEqualTo(PieceType.BYTE);
      assertThat(v.score(3 + b)).isZero();
    }
    assertThat(v.hasAllBytePieces()).isTrue();
    // merges, then characters, scores 0, -1, -2, ... throughout
    int merges = trainer.mergeCount();
    assertThat(merges).isEqualTo(mergeCount(trained));
    assertThat(merges + trainer.characterCount()).isEqualTo(VOCAB - BpeTrainer.RESERVED_PIECES);
    for (int id = BpeTrainer.RESERVED_PIECES; id < v.size(); id++) {
      int k = id - BpeTrainer.RESERVED_PIECES;
      assertThat(v.type(id)).isEqualTo(PieceType.NORMAL);
      assertThat(v.score(id)).isEqualTo((float) -k);
      int length = v.piece(id).codePointCount(0, v.piece(id).length());
      if (k < merges) {
        assertThat(length).as("merged piece %s", v.piece(id)).isGreaterThan(1);
      } else {
        assertThat(length).as("character piece %s", v.piece(id)).isEqualTo(1);
      }
    }
    assertThat(trained.description()).isEqualTo("BPE trained on 1500 documents, vocab " + VOCAB);
    assertThat(trained.specials()).isEqualTo(SpecialTokens.llama());
    assertThat(trained.byteFallback()).isTrue();
    assertThat(trained.normalizer()).isEqualTo(Normalizer.llama());
  }

  @Test
  void charactersComeMostFrequentFirstAndRareOnesAreLeftToByteFallback() {
    Vocabulary v = trained.vocabulary();
    int firstChar = BpeTrainer.RESERVED_PIECES + trainer.mergeCount();
    assertThat(v.piece(firstChar)).isEqualTo(SPACE);
    assertThat(v.id("Ж")).isEqualTo(-1);
    assertThat(v.id("é")).isPositive();
    // the rare character encodes to its UTF-8 bytes
    int[] ids = trained.encode("Ж");
    assertThat(ids).containsExactly(v.id(SPACE), v.byteId(0xD0), v.byteId(0x96));

    BpeTrainer all = new BpeTrainer(new BpeTrainer.Options(VOCAB, 1.0, 16, true));
    corpus.forEach(all::addDocument);
    assertThat(all.train(null).vocabulary().id("Ж")).isPositive();
  }

  @Test
  void everyMergedPieceIsTwoPiecesWithHigherScores() {
    Vocabulary v = trained.vocabulary();
    for (int id = BpeTrainer.RESERVED_PIECES;
        id < BpeTrainer.RESERVED_PIECES + trainer.mergeCount();
        id++) {
      String piece = v.piece(id);
      boolean reachable = false;
      for (int cut = 1; cut < piece.length() && !reachable; cut++) {
        if (Character.isLowSurrogate(piece.charAt(cut))) {
          continue;
        }
        int left = v.id(piece.substring(0, cut));
        int right = v.id(piece.substring(cut));
        reachable = earlier(v, left, id) && earlier(v, right, id);
      }
      assertThat(reachable).as("piece %s is two earlier pieces", Vocabulary.quote(piece)).isTrue();
    }
  }

  /**
   * Whether {@code part} can merge before {@code piece}: a character, or a merge with a higher
   * score.
   */
  private static boolean earlier(Vocabulary v, int part, int piece) {
    if (part < 0 || v.type(part) != PieceType.NORMAL) {
      return false;
    }
    return v.piece(part).codePointCount(0, v.piece(part).length()) == 1
        || v.score(part) > v.score(piece);
  }

  @Test
  void piecesObeySentencePiecesRules() {
    Vocabulary v = trained.vocabulary();
    boolean spacesOnly = false;
    for (int id : v.idsOfType(PieceType.NORMAL)) {
      String p = v.piece(id);
      // "▁" only in front, or nothing but "▁"s
      boolean allSpaces = p.chars().allMatch(c -> c == Normalizer.SPACE_SYMBOL);
      spacesOnly |= allSpaces && p.length() > 1;
      if (!allSpaces) {
        assertThat(p.substring(1)).as("piece %s", p).doesNotContain(SPACE);
      }
      assertThat(p.codePointCount(0, p.length())).isLessThanOrEqualTo(16);
      // no letters together with punctuation, no digit with anything
      if (p.codePointCount(0, p.length()) > 1) {
        assertThat(p.chars().anyMatch(Character::isDigit)).as("piece %s", p).isFalse();
        boolean letters = p.chars().anyMatch(Character::isLetter);
        boolean others =
            p.chars().anyMatch(c -> c != Normalizer.SPACE_SYMBOL && !Character.isLetter(c));
        assertThat(letters && others).as("piece %s mixes scripts", p).isFalse();
      }
    }
    assertThat(spacesOnly).as("indentation makes spaces-only pieces").isTrue();
  }

  @Test
  void frequentWordsBecomeSinglePieces() {
    Vocabulary v = trained.vocabulary();
    for (String word : List.of("the", "of", "and", "government", "information")) {
      assertThat(trained.encode(word)).as(word).containsExactly(v.id(SPACE + word));
    }
    assertThat(trained.encode("the of and")).hasSize(3);
  }

  @Test
  void digitsStaySplit() {
    Vocabulary v = trained.vocabulary();
    for (int d = 0; d <= 9; d++) {
      assertThat(v.id(String.valueOf(d))).isPositive();
    }
    int[] ids = trained.encode("in 1961 and $1024.50");
    for (int id : ids) {
      assertThat(v.piece(id).chars().filter(Character::isDigit).count()).isLessThanOrEqualTo(1);
      if (v.piece(id).chars().anyMatch(Character::isDigit)) {
        assertThat(v.piece(id)).hasSize(1);
      }
    }
    // without splitDigits numbers merge (with each other only)
    BpeTrainer joined = new BpeTrainer(new BpeTrainer.Options(VOCAB, 0.9995, 16, false));
    corpus.forEach(joined::addDocument);
    Vocabulary jv = joined.train(null).vocabulary();
    assertThat(
            jv.idsOfType(PieceType.NORMAL).stream()
                .map(jv::piece)
                .filter(p -> p.length() > 1 && p.chars().anyMatch(Character::isDigit)))
        .isNotEmpty()
        .allMatch(
            p -> p.chars().allMatch(c -> Character.isDigit(c) || c == Normalizer.SPACE_SYMBOL),
            "digits merge only with digits");
  }

  @Test
  void maxPieceLengthIsRespected() {
    BpeTrainer short3 = new BpeTrainer(new BpeTrainer.Options(600, 0.9995, 3, true));
    corpus.forEach(short3::addDocument);
    Tokenizer t = short3.train(null);
    Vocabulary v = t.vocabulary();
    for (int id : v.idsOfType(PieceType.NORMAL)) {
      assertThat(v.piece(id).codePointCount(0, v.piece(id).length()))
          .as(v.piece(id))
          .isLessThanOrEqualTo(3);
    }
    assertThat(t.encode("international"))
        .hasSizeGreaterThanOrEqualTo(5); // "▁international": 14 characters
    // the default 16 allows "▁international" (14) but nothing longer
    assertThat(trained.vocabulary().id(SPACE + "international")).isPositive();
    assertThat(trained.vocabulary().id(SPACE + "understanding")).isPositive();
  }

  @Test
  void trainingIsDeterministicAndIndependentOfDocumentOrder() {
    BpeTrainer again = new BpeTrainer(BpeTrainer.Options.defaults(VOCAB));
    corpus.reversed().forEach(again::addDocument);
    Vocabulary a = trained.vocabulary();
    Vocabulary b = again.train(null).vocabulary();
    assertThat(b.size()).isEqualTo(a.size());
    for (int id = 0; id < a.size(); id++) {
      assertThat(b.piece(id)).isEqualTo(a.piece(id));
      assertThat(b.score(id)).isEqualTo(a.score(id));
      assertThat(b.type(id)).isEqualTo(a.type(id));
    }
    // training twice on one trainer gives the same again
    Vocabulary c = again.train(null).vocabulary();
    for (int id = 0; id < a.size(); id++) {
      assertThat(c.piece(id)).isEqualTo(a.piece(id));
    }
  }

  @Test
  void smallCorpusGivesASmallerVocabularyAndSaysSo() {
    BpeTrainer t = new BpeTrainer(BpeTrainer.Options.defaults(1000));
    t.addDocument("aaa bb");
    Tokenizer tok = t.train(null);
    // characters ▁ a b; merges aa, aaa, bb, ▁aaa, ▁bb ("a"+"aa" would make "aaa" again); then none
    assertThat(tok.vocabSize())
        .isLessThan(1000)
        .isEqualTo(BpeTrainer.RESERVED_PIECES + t.characterCount() + t.mergeCount());
    assertThat(tok.description()).contains("1000 asked");
    assertThat(tok.encode("aaa bb")).hasSize(2);
    assertThat(tok.decode(tok.encode("aaa bb"))).isEqualTo("aaa bb");
  }

  @Test
  void emptyCorpusGivesSpaceAndByteFallbackOnly() {
    Tokenizer tok = new BpeTrainer(BpeTrainer.Options.defaults(300)).train(null);
    assertThat(tok.vocabSize()).isEqualTo(BpeTrainer.RESERVED_PIECES + 1);
    assertThat(tok.vocabulary().piece(BpeTrainer.RESERVED_PIECES)).isEqualTo(SPACE);
    assertThat(tok.decode(tok.encode("héllo wörld"))).isEqualTo("héllo wörld");
  }

  @Test
  void progressIsReportedUpToTheEnd() {
    BpeTrainer t = new BpeTrainer(BpeTrainer.Options.defaults(800));
    corpus.forEach(t::addDocument);
    List<int[]> calls = new ArrayList<>();
    t.train((done, total) -> calls.add(new int[] {done, total}));
    assertThat(calls.getFirst())
        .containsExactly(0, 800 - BpeTrainer.RESERVED_PIECES - t.characterCount());
    assertThat(calls.getLast())
        .containsExactly(t.mergeCount(), 800 - BpeTrainer.RESERVED_PIECES - t.characterCount());
    assertThat(calls.size()).isBetween(50, 102);
  }

  // ---- encoding ----

  static List<String> variedStrings(Random random, int n) {
    String[] alphabet = {
      "a", "e", "t", "n", " ", " ", "  ", "\n", "\t", ".", ",", "\"", "0", "7", "é", "ñ", "Ж", "д",
      "한", "국", "中", "文", "😀", "👍🏽", "e\u0301", "\u200d", "ー", "カ", "ひ", "\u0000", "<s>", "</s>",
      "<unk>", "<0x41>", "▁", "\uFFFD"
    };
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      StringBuilder s = new StringBuilder();
      int parts = random.nextInt(12);
      for (int k = 0; k < parts; k++) {
        int r = random.nextInt(3);
        if (r == 0) {
          s.append(alphabet[random.nextInt(alphabet.length)]);
        } else if (r == 1) {
          s.append(COMMON[random.nextInt(COMMON.length)]).append(' ');
        } else {
          s.append(SYLLABLES[random.nextInt(SYLLABLES.length)]);
        }
      }
      out.add(s.toString());
    }
    out.addAll(
        List.of(
            "",
            " ",
            "  ",
            "   leading",
            "trailing   ",
            "한국어 텍스트",
            "emoji 😀🎉 here",
            "tab\there",
            "\n\n"));
    return out;
  }

  @Test
  void decodeInvertsEncodeOnTrainingAndUnseenText() {
    long tokens = 0;
    long chars = 0;
    for (String doc : corpus) {
      int[] ids = trained.encode(doc);
      tokens += ids.length;
      chars += doc.length();
      assertThat(trained.decode(ids)).isEqualTo(doc);
    }
    assertThat((double) tokens / chars)
        .as("tokens per character on the training text")
        .isLessThan(0.3);
    for (String s : variedStrings(new Random(7), 2000)) {
      if (s.contains(SPACE)) {
        continue; // a literal "▁" decodes as a space, as in SentencePiece
      }
      assertThat(trained.decode(trained.encode(s))).as(Vocabulary.quote(s)).isEqualTo(s);
    }
  }

  @Test
  void trainedWordsEncodeCompactly() {
    // the tokens of a word never outnumber what its merges allow: frequent words are one token,
    // and no word of the corpus takes more tokens than characters
    Vocabulary v = trained.vocabulary();
    int single = 0;
    int total = 0;
    for (String w : COMMON) {
      total++;
      int[] ids = trained.encode(w);
      assertThat(ids.length).isLessThanOrEqualTo(w.length());
      if (ids.length == 1) {
        single++;
        assertThat(v.piece(ids[0])).isEqualTo(SPACE + w);
      }
    }
    assertThat(single).isGreaterThan(total * 9 / 10);
  }

  // ---- files ----

  @Test
  void sentencePieceModelFileRoundTripGivesTheSameIds() {
    Tokenizer read = SentencePieceModelFile.read(SentencePieceModelFile.write(trained), "x");
    Vocabulary a = trained.vocabulary();
    Vocabulary b = read.vocabulary();
    assertThat(b.size()).isEqualTo(a.size());
    for (int id = 0; id < a.size(); id++) {
      assertThat(b.piece(id)).isEqualTo(a.piece(id));
      assertThat(b.score(id)).isEqualTo(a.score(id));
      assertThat(b.type(id)).isEqualTo(a.type(id));
    }
    for (String s : variedStrings(new Random(11), 3000)) {
      assertThat(read.encode(s)).as(Vocabulary.quote(s)).containsExactly(trained.encode(s));
    }
  }

  @Test
  void tokenizerJsonRoundTripGivesTheSameIds(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("tokenizer.json");
    Files.writeString(file, HfTokenizerJsonFile.write(trained));
    Tokenizer read = HfTokenizerJsonFile.read(file);
    assertThat(read.vocabSize()).isEqualTo(trained.vocabSize());
    for (String s : variedStrings(new Random(13), 3000)) {
      assertThat(read.encode(s)).as(Vocabulary.quote(s)).containsExactly(trained.encode(s));
    }
    for (String doc : corpus.subList(0, 300)) {
      assertThat(read.encode(doc)).containsExactly(trained.encode(doc));
    }
    Tokenizer parsed =
        HfTokenizerJsonFile.fromJson(
            JsonMapper.builder().build().readTree(HfTokenizerJsonFile.write(trained)), null, "x");
    assertThat(parsed.encode(corpus.get(1))).containsExactly(trained.encode(corpus.get(1)));
  }

  // ---- a real corpus ----

  @Test
  void trainsOnTheBrownCorpus() throws IOException {
    // the bundled copy of the Brown corpus (data/sample, byte for byte ../shared's)
    Path file = Path.of("..", "data", "sample", "brown.jsonl.gz");
    assertThat(file).as("the bundled corpus").isRegularFile();
    JsonMapper json = JsonMapper.builder().build();
    List<String> docs = new ArrayList<>();
    try (BufferedReader r =
        new BufferedReader(
            new InputStreamReader(
                new GZIPInputStream(Files.newInputStream(file)), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        docs.add(json.readTree(line).get("text").stringValue());
      }
    }
    // how long this takes is measured by cria-bench's BpeTrainingBenchmark, not asserted here
    BpeTrainer brown = new BpeTrainer(BpeTrainer.Options.defaults(4000));
    docs.forEach(brown::addDocument);
    Tokenizer t = brown.train(null);
    assertThat(t.vocabSize()).isEqualTo(4000);

    long tokens = 0;
    long chars = 0;
    for (String doc : docs) {
      int[] ids = t.encode(doc);
      tokens += ids.length;
      chars += doc.length();
      assertThat(t.decode(ids)).isEqualTo(doc);
    }
    assertThat(docs).hasSize(500);
    assertThat((double) tokens / chars).as("tokens per character").isLessThan(0.3);
    Vocabulary v = t.vocabulary();
    for (String word : List.of("the", "of", "and", "which", "would")) {
      assertThat(t.encode(word)).as(word).containsExactly(v.id(SPACE + word));
    }
  }
}
