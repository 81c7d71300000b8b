package dev.cria.data.tokenizer;

/**
 * SentencePiece's text normalization for Llama-style models, without a Unicode character map.
 *
 * <p>In order: ill-formed UTF-16 (a lone surrogate) becomes U+FFFD, as SentencePiece does with a
 * malformed UTF-8 byte; with {@code removeExtraWhitespaces} leading, trailing and repeated spaces
 * go; with {@code addDummyPrefix} a non-empty text gets one space in front; with {@code
 * escapeWhitespaces} every space becomes U+2581 ("▁"). Trailing spaces are removed after escaping,
 * so a U+2581 of the input at the end goes with them, as in SentencePiece.
 *
 * @param addDummyPrefix put a space before non-empty text, so a word is encoded alike at the start
 *     and in the middle of a text
 * @param removeExtraWhitespaces strip and collapse runs of spaces (Llama: off)
 * @param escapeWhitespaces replace spaces with U+2581 (Llama: on)
 */
public record Normalizer(
    boolean addDummyPrefix, boolean removeExtraWhitespaces, boolean escapeWhitespaces) {

  /** The metaspace character U+2581 that stands for a space inside pieces. */
  public static final char SPACE_SYMBOL = '\u2581';

  /** Llama-1/2's normalization: dummy prefix, spaces escaped, nothing removed. */
  public static Normalizer llama() {
    return new Normalizer(true, false, true);
  }

  /** Normalizes {@code text} into {@code out} (cleared first). */
  public void normalize(CharSequence text, StringBuilder out) {
    out.setLength(0);
    int n = text.length();
    int start = 0;
    int end = n;
    if (removeExtraWhitespaces) {
      while (start < end && text.charAt(start) == ' ') {
        start++;
      }
      while (end > start && text.charAt(end - 1) == ' ') {
        end--;
      }
    }
    if (start == end) {
      return;
    }
    char space = escapeWhitespaces ? SPACE_SYMBOL : ' ';
    if (addDummyPrefix) {
      out.append(space);
    }
    boolean previousSpace = false;
    for (int i = start; i < end; i++) {
      char c = text.charAt(i);
      if (c == ' ') {
        if (removeExtraWhitespaces && previousSpace) {
          continue;
        }
        previousSpace = true;
        out.append(space);
        continue;
      }
      previousSpace = false;
      if (Character.isHighSurrogate(c)) {
        if (i + 1 < end && Character.isLowSurrogate(text.charAt(i + 1))) {
          out.append(c).append(text.charAt(++i));
        } else {
          out.append('\uFFFD');
        }
      } else if (Character.isLowSurrogate(c)) {
        out.append('\uFFFD');
      } else {
        out.append(c);
      }
    }
    if (removeExtraWhitespaces) {
      // as SentencePiece, which strips the escaped text: a trailing U+2581 of the input goes too
      int length = out.length();
      while (length > 0 && out.charAt(length - 1) == space) {
        length--;
      }
      out.setLength(length);
    }
  }

  /** Normalizes {@code text} into a new string. */
  public String normalize(CharSequence text) {
    StringBuilder out = new StringBuilder(text.length() + 1);
    normalize(text, out);
    return out.toString();
  }
}
