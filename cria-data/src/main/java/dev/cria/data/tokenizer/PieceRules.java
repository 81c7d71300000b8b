package dev.cria.data.tokenizer;

import java.lang.Character.UnicodeScript;

/**
 * Which pieces the BPE trainer may make: SentencePiece's {@code IsValidSentencePiece} for a
 * Llama-style trainer ({@code split_by_whitespace}, {@code allow_whitespace_only_pieces}, {@code
 * split_by_unicode_script}, {@code split_by_number}, optionally {@code split_digits}), decided from
 * a packed summary of each symbol so that a merge is checked in constant time.
 *
 * <p>A piece is valid when it is at most {@code maxPieceLength} code points long and
 *
 * <ul>
 *   <li>holds U+2581 ("▁") only as its first character, or consists of nothing but "▁"s: so no
 *       piece has a non-"▁" followed by "▁", which lets the encoder cut text before each word;
 *   <li>takes its other characters from one Unicode script (Hiragana and Katakana count as Han;
 *       combining marks, script {@code INHERITED}, go with any script; digits form a script of
 *       their own);
 *   <li>with {@code splitDigits}, is a single digit or holds none.
 * </ul>
 *
 * <p>Summary layout: bits 0-9 the script (0 when the symbol has none yet, i.e. only "▁"s and
 * combining marks), bits 10-11 the whitespace shape, bit 12 "is a digit that never merges", bits
 * 16-31 the length in code points.
 */
final class PieceRules {
  /** No "▁" at all. */
  static final int NO_SPACE = 0;

  /** One "▁" in front of other characters. */
  static final int LEADING_SPACE = 1;

  /** Only "▁"s. */
  static final int ONLY_SPACES = 2;

  private static final int SCRIPT_MASK = 0x3FF;
  private static final int SHAPE_SHIFT = 10;
  private static final int UNMERGEABLE_DIGIT = 1 << 12;
  private static final int LENGTH_SHIFT = 16;
  private static final int NUMBER_SCRIPT = UnicodeScript.values().length + 1;

  private PieceRules() {}

  /** The summary of the one-character symbol {@code cp}. */
  static int ofChar(int cp, boolean splitDigits) {
    int shape = cp == Normalizer.SPACE_SYMBOL ? ONLY_SPACES : NO_SPACE;
    int digit = splitDigits && Character.isDigit(cp) ? UNMERGEABLE_DIGIT : 0;
    return (1 << LENGTH_SHIFT) | digit | (shape << SHAPE_SHIFT) | scriptOf(cp);
  }

  /** The summary of {@code left + right}, or -1 when that concatenation is not a valid piece. */
  static int merge(int left, int right, int maxPieceLength) {
    int length = length(left) + length(right);
    if (length > maxPieceLength || ((left | right) & UNMERGEABLE_DIGIT) != 0) {
      return -1;
    }
    int shape;
    int leftShape = shape(left);
    int rightShape = shape(right);
    if (leftShape == ONLY_SPACES && rightShape == ONLY_SPACES) {
      shape = ONLY_SPACES;
    } else if (rightShape != NO_SPACE) {
      return -1; // a "▁" after something else
    } else if (leftShape == ONLY_SPACES) {
      if (length(left) != 1) {
        return -1; // "▁▁x": spaces-only pieces stay apart from text
      }
      shape = LEADING_SPACE;
    } else {
      shape = leftShape;
    }
    int leftScript = left & SCRIPT_MASK;
    int rightScript = right & SCRIPT_MASK;
    int script;
    if (leftScript == 0 || leftScript == rightScript) {
      script = rightScript;
    } else if (rightScript == 0) {
      script = leftScript;
    } else {
      return -1; // two scripts
    }
    return (length << LENGTH_SHIFT) | (shape << SHAPE_SHIFT) | script;
  }

  /** The length in code points of the symbol summarized by {@code summary}. */
  static int length(int summary) {
    return summary >>> LENGTH_SHIFT;
  }

  private static int shape(int summary) {
    return (summary >>> SHAPE_SHIFT) & 3;
  }

  /** 0 for characters that go with any script, else a number per script. */
  private static int scriptOf(int cp) {
    if (cp == Normalizer.SPACE_SYMBOL) {
      return 0;
    }
    if (Character.isDigit(cp)) {
      return NUMBER_SCRIPT;
    }
    if (cp == 0x30FC) { // Katakana-Hiragana prolonged sound mark: Common in Unicode, Katakana to
      // SentencePiece
      return UnicodeScript.HAN.ordinal() + 1;
    }
    UnicodeScript script = UnicodeScript.of(cp);
    return switch (script) {
      case INHERITED -> 0;
      case HIRAGANA, KATAKANA -> UnicodeScript.HAN.ordinal() + 1;
      default -> script.ordinal() + 1;
    };
  }
}
