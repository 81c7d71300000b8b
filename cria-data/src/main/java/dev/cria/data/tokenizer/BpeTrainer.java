package dev.cria.data.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Trains a Llama-style BPE {@link Tokenizer} on a corpus, as SentencePiece's BPE trainer does with
 * Llama-2's settings ({@code spm_train --model_type=bpe --byte_fallback --split_digits
 * --allow_whitespace_only_pieces}, identity normalization, dummy prefix, extra spaces kept).
 *
 * <p>Use: {@link #addDocument} for every document (only the counts of distinct words are kept, so
 * the corpus is streamed, never held), then {@link #train}. Not thread-safe.
 *
 * <p>How it trains:
 *
 * <ol>
 *   <li>Each document is normalized with {@link Normalizer#llama()} ("▁" in front, spaces become
 *       "▁") and cut into words before every "▁" that follows another character, the cut
 *       SentencePiece makes with {@code split_by_whitespace} and {@code
 *       allow_whitespace_only_pieces}, and the one {@link Tokenizer} itself makes when it encodes.
 *       A run of spaces therefore stays with the word after it: {@code "a b"} is {@code "▁a"},
 *       {@code "▁▁▁b"}. A word longer than {@value #MAX_WORD_LENGTH} characters (a URL, a line of
 *       Chinese) is counted in pieces of that length.
 *   <li>The most frequent characters that together make up {@link Options#characterCoverage} of all
 *       characters become pieces; the rarer ones do not (byte fallback encodes them) and no merge
 *       crosses them. The characters are capped to what fits the vocabulary; "▁" is always one of
 *       them.
 *   <li>Then, over and over, the most frequent pair of adjacent symbols is merged into a new piece
 *       (ties: the smaller merged string, then the smaller left part), skipping merges that would
 *       make a piece that {@link PieceRules} forbids: longer than {@link Options#maxPieceLength},
 *       with a "▁" after another character, spanning two Unicode scripts, or holding a digit when
 *       {@link Options#splitDigits}. Only words that hold the merged pair are touched.
 * </ol>
 *
 * <p>The vocabulary is laid out as Llama-2's: {@code <unk>} 0, {@code <s>} 1, {@code </s>} 2,
 * {@code <0x00>}..{@code <0xFF>} 3..258 (score 0), then the merged pieces in merge order with
 * scores 0, -1, -2, ..., then the characters, most frequent first, with scores going on down.
 * SentencePiece (and {@link Tokenizer}) encode by piece score rather than by replaying these
 * merges, and every merged piece is reachable that way: it is the concatenation of two pieces made
 * before it (characters, or merges with higher scores). Checked on the Brown corpus at vocab 8000:
 * SentencePiece 0.1.97 reads the written {@code .model} and gives the same ids as {@link
 * Tokenizer}; its own trainer with these settings, fed the corpus line by line, makes 98% of the
 * same pieces.
 */
public final class BpeTrainer {
  /** Pieces before the trained ones: {@code <unk>}, {@code <s>}, {@code </s>} and 256 bytes. */
  public static final int RESERVED_PIECES = 3 + 256;

  /** Words are counted in pieces of at most this many characters (code points). */
  public static final int MAX_WORD_LENGTH = 256;

  /**
   * What to train.
   *
   * @param vocabSize the number of pieces wanted, the {@value #RESERVED_PIECES} reserved ones
   *     included; fewer result when the corpus has no more pairs to merge
   * @param characterCoverage the share of character occurrences, in (0, 1], that the kept
   *     characters must cover; the rest go to byte fallback (SentencePiece's default 0.9995; 1.0
   *     keeps every character)
   * @param maxPieceLength the longest piece, in characters (code points), at least 1
   * @param splitDigits whether every digit stays a piece of its own, as in Llama-2
   */
  public record Options(
      int vocabSize, double characterCoverage, int maxPieceLength, boolean splitDigits) {
    /** Checks the values; every message names the field at fault. */
    public Options {
      if (vocabSize <= RESERVED_PIECES) {
        throw new IllegalArgumentException(
            "the vocabulary size (--vocab-size) must be greater than "
                + RESERVED_PIECES
                + " (3 special and 256 byte pieces), got "
                + vocabSize);
      }
      if (!(characterCoverage > 0 && characterCoverage <= 1)) {
        throw new IllegalArgumentException(
            "the character coverage (--character-coverage) must be in (0, 1], got "
                + characterCoverage);
      }
      if (maxPieceLength < 1) {
        throw new IllegalArgumentException(
            "the longest piece (--max-piece-length) must be at least 1 character, got "
                + maxPieceLength);
      }
    }

    /**
     * Llama-2's choices for {@code vocabSize}: coverage 0.9995, pieces up to 16 characters, digits
     * split.
     */
    public static Options defaults(int vocabSize) {
      return new Options(vocabSize, 0.9995, 16, true);
    }
  }

  private static final String[] SPECIALS = {"<unk>", "<s>", "</s>"};

  private final Options options;
  private final Normalizer normalizer = Normalizer.llama();
  private final StringBuilder normalized = new StringBuilder();
  private final Map<String, long[]> wordCounts = new HashMap<>();
  private long documents;
  private long words;
  private int lastMerges = -1;
  private int lastCharacters = -1;

  /** A trainer with the given options (see {@link Options#defaults}). */
  public BpeTrainer(Options options) {
    if (options == null) {
      throw new IllegalArgumentException("options must not be null");
    }
    this.options = options;
  }

  public Options options() {
    return options;
  }

  /** Counts the words of one document; call it for every document of the corpus. */
  public void addDocument(CharSequence text) {
    documents++;
    normalizer.normalize(text, normalized);
    int n = normalized.length();
    if (n == 0) {
      return;
    }
    int start = 0;
    int length = 1;
    for (int i = 1; i < n; i++) {
      char c = normalized.charAt(i);
      if (Character.isLowSurrogate(c)) {
        continue; // the normalizer pairs every surrogate
      }
      if (c == Normalizer.SPACE_SYMBOL && normalized.charAt(i - 1) != Normalizer.SPACE_SYMBOL
          || length == MAX_WORD_LENGTH) {
        countWord(start, i);
        start = i;
        length = 0;
      }
      length++;
    }
    countWord(start, n);
  }

  private void countWord(int from, int to) {
    words++;
    wordCounts.computeIfAbsent(normalized.substring(from, to), w -> new long[1])[0]++;
  }

  /** The documents added so far. */
  public long documentCount() {
    return documents;
  }

  /** The words counted so far, repeats included. */
  public long wordCount() {
    return words;
  }

  /** The distinct words counted so far: what the trainer holds in memory. */
  public int distinctWordCount() {
    return wordCounts.size();
  }

  /** The merges the last {@link #train} made (fewer than asked when the corpus ran out), or -1. */
  public int mergeCount() {
    return lastMerges;
  }

  /** The characters the last {@link #train} made pieces of, or -1. */
  public int characterCount() {
    return lastCharacters;
  }

  /**
   * Trains on the words counted so far and returns the tokenizer; the counts stay, so more
   * documents may follow and {@code train} may be called again.
   *
   * @param progress told {@code (mergesDone, mergesTotal)} at the start, every 1% and at the end;
   *     may be null
   * @return a tokenizer of {@link Options#vocabSize} pieces, or fewer when the corpus has too few
   *     distinct pairs (its {@link Tokenizer#description()} says so)
   */
  public Tokenizer train(BiConsumer<Integer, Integer> progress) {
    int[] characters = keptCharacters();
    int mergesWanted = options.vocabSize() - RESERVED_PIECES - characters.length;

    List<String> reserved = new ArrayList<>(List.of(SPECIALS));
    for (int b = 0; b < 256; b++) {
      reserved.add(Vocabulary.bytePiece(b));
    }
    BpeMergeLoop loop = new BpeMergeLoop(options.maxPieceLength(), reserved);
    int[] bmpIds = new int[65536];
    Arrays.fill(bmpIds, -1);
    Map<Integer, Integer> supplementaryIds = new HashMap<>();
    for (int cp : characters) {
      int id = loop.addCharacter(cp, options.splitDigits());
      if (cp < 65536) {
        bmpIds[cp] = id;
      } else {
        supplementaryIds.put(cp, id);
      }
    }
    for (Map.Entry<String, long[]> e : wordCounts.entrySet()) {
      String word = e.getKey();
      int length = word.codePointCount(0, word.length());
      if (length < 2) {
        continue;
      }
      int[] symbols = new int[length];
      for (int i = 0, k = 0; i < word.length(); k++) {
        int cp = word.codePointAt(i);
        i += Character.charCount(cp);
        symbols[k] = cp < 65536 ? bmpIds[cp] : supplementaryIds.getOrDefault(cp, -1);
      }
      loop.addWord(symbols, e.getValue()[0]);
    }
    List<String> merges = loop.run(mergesWanted, progress);
    lastMerges = merges.size();
    lastCharacters = characters.length;
    return build(merges, characters);
  }

  /**
   * The characters that become pieces, most frequent first (ties: lower code point first): the
   * fewest that cover {@link Options#characterCoverage} of all occurrences, at most what fits.
   */
  private int[] keptCharacters() {
    long[] bmp = new long[65536];
    Map<Integer, Long> supplementary = new HashMap<>();
    long total = 0;
    for (Map.Entry<String, long[]> e : wordCounts.entrySet()) {
      String word = e.getKey();
      long count = e.getValue()[0];
      for (int i = 0; i < word.length(); ) {
        int cp = word.codePointAt(i);
        i += Character.charCount(cp);
        if (cp == 0) {
          continue; // SentencePiece never makes NUL a piece
        }
        if (cp < 65536) {
          bmp[cp] += count;
        } else {
          supplementary.merge(cp, count, Long::sum);
        }
        total += count;
      }
    }
    List<long[]> seen = new ArrayList<>();
    for (int cp = 0; cp < 65536; cp++) {
      if (bmp[cp] > 0) {
        seen.add(new long[] {cp, bmp[cp]});
      }
    }
    supplementary.forEach((cp, count) -> seen.add(new long[] {cp, count}));
    seen.sort((a, b) -> a[1] != b[1] ? Long.compare(b[1], a[1]) : Long.compare(a[0], b[0]));
    int room = options.vocabSize() - RESERVED_PIECES;
    int[] kept = new int[Math.min(room, seen.size() + 1)];
    long covered = 0;
    int n = 0;
    boolean space = false;
    for (long[] c : seen) {
      if (n == kept.length || (double) covered / total >= options.characterCoverage()) {
        break;
      }
      kept[n++] = (int) c[0];
      covered += c[1];
      space |= c[0] == Normalizer.SPACE_SYMBOL;
    }
    if (!space) { // only for a corpus with (almost) no text: "▁" is a piece in every tokenizer
      kept[n < kept.length ? n++ : n - 1] = Normalizer.SPACE_SYMBOL;
    }
    return Arrays.copyOf(kept, n);
  }

  private Tokenizer build(List<String> merges, int[] characters) {
    int size = RESERVED_PIECES + merges.size() + characters.length;
    List<String> pieces = new ArrayList<>(size);
    float[] scores = new float[size];
    PieceType[] types = new PieceType[size];
    pieces.addAll(List.of(SPECIALS));
    types[0] = PieceType.UNKNOWN;
    types[1] = PieceType.CONTROL;
    types[2] = PieceType.CONTROL;
    for (int b = 0; b < 256; b++) {
      types[pieces.size()] = PieceType.BYTE;
      pieces.add(Vocabulary.bytePiece(b));
    }
    int rank = 0;
    for (String piece : merges) {
      scores[pieces.size()] = -rank++;
      types[pieces.size()] = PieceType.NORMAL;
      pieces.add(piece);
    }
    for (int cp : characters) {
      scores[pieces.size()] = -rank++;
      types[pieces.size()] = PieceType.NORMAL;
      pieces.add(Character.toString(cp));
    }
    Vocabulary vocabulary = Vocabulary.of(pieces, scores, types);
    BpeModel model = BpeModel.fromScores(vocabulary, Normalizer.llama(), true, 0);
    String description = "BPE trained on " + documents + " documents, vocab " + size;
    if (size < options.vocabSize()) {
      description += " (" + options.vocabSize() + " asked; the corpus has no more pairs to merge)";
    }
    return new Tokenizer(model, SpecialTokens.llama(), description);
  }
}
