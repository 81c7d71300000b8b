package dev.cria.train.compile;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Sizes of memory as people and Kubernetes write them: {@code 24Gi} and {@code 512Mi} (binary),
 * {@code 24G} and {@code 24GB} (decimal), {@code 24GiB}, or bytes.
 */
public final class MemorySize {
  private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kKMGT]?)(i?)[bB]?");

  private MemorySize() {}

  /** The bytes {@code text} names; an {@link IllegalArgumentException} says what is expected. */
  public static long parse(String text) {
    Matcher m = SIZE.matcher(text.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException(
          "'" + text + "' is not a size: write 24Gi, 24G, 24GB, 512Mi or bytes");
    }
    double v = Double.parseDouble(m.group(1));
    String prefix = m.group(2).toUpperCase(Locale.ROOT);
    int power = prefix.isEmpty() ? 0 : "KMGT".indexOf(prefix) + 1;
    double unit = Math.pow(m.group(3).isEmpty() ? 1000 : 1024, power);
    double bytes = v * unit;
    if (bytes < 1 || bytes > Long.MAX_VALUE / 2) {
      throw new IllegalArgumentException("'" + text + "' is not a size a process can have");
    }
    return (long) bytes;
  }
}
