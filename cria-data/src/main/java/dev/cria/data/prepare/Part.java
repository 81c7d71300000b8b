package dev.cria.data.prepare;

/**
 * One of {@code count} parts of a corpus, numbered from 0 as a Kubernetes Indexed Job numbers its
 * pods ({@code JOB_COMPLETION_INDEX}): the lines {@code [L x index / count, L x (index + 1) /
 * count)} of the inputs' {@code L} lines, taken in input order. Parts prepared apart and merged in
 * index order give the dataset one prepare of the whole gives, byte for byte.
 */
public record Part(int index, int count) {
  /** The whole corpus: one part. */
  public static final Part WHOLE = new Part(0, 1);

  public Part {
    if (count < 1 || index < 0 || index >= count) {
      throw new IllegalArgumentException(
          "part " + index + "/" + count + ": want I/N with N >= 1 and 0 <= I < N");
    }
  }

  /** Reads {@code "I/N"} (for example {@code 0/8}). */
  public static Part parse(String text) {
    int slash = text.indexOf('/');
    if (slash < 0) {
      throw new IllegalArgumentException("part \"" + text + "\": want I/N, for example 0/8");
    }
    try {
      return new Part(
          Integer.parseInt(text.substring(0, slash).strip()),
          Integer.parseInt(text.substring(slash + 1).strip()));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("part \"" + text + "\": want I/N, for example 0/8");
    }
  }

  public boolean isWhole() {
    return count == 1;
  }

  /** The first line (0-based, over all inputs) of this part of {@code lines} lines. */
  public long firstLine(long lines) {
    return cut(lines, index);
  }

  /** One past the last line of this part of {@code lines} lines. */
  public long endLine(long lines) {
    return cut(lines, index + 1);
  }

  /** {@code floor(lines x at / count)} without overflow: both factors of the remainder fit. */
  private long cut(long lines, int at) {
    return lines / count * at + lines % count * at / count;
  }

  @Override
  public String toString() {
    return index + "/" + count;
  }
}
