package dev.cria.data.gpt;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which documents belong to the train, valid and test splits, as Megatron-Core computes it from a
 * split string such as {@code "980,10,10"}: the numbers are normalized to fractions, summed into
 * book-ends {@code 0, f0, f0+f1, f0+f1+f2}, and each book-end times the document count is rounded
 * half to even (Python's {@code round}). A split whose fraction is zero is absent.
 *
 * @param text the split string as given
 * @param fractions the normalized fractions, one per {@link Split}
 * @param begin first document of each split
 * @param end one past the last document of each split
 */
public record SplitRanges(String text, double[] fractions, long[] begin, long[] end) {
  private static final Pattern NUMBER = Pattern.compile("[.0-9]+");

  /** Parses {@code split} for a dataset of {@code documents} documents. */
  public static SplitRanges of(String split, long documents) {
    List<Double> values = new ArrayList<>();
    Matcher m = NUMBER.matcher(split);
    while (m.find()) {
      try {
        values.add(Double.parseDouble(m.group()));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "split '" + split + "': '" + m.group() + "' is not a number");
      }
    }
    if (values.isEmpty() || values.size() > 3) {
      throw new IllegalArgumentException(
          "split '" + split + "' must have one to three numbers (train,valid,test)");
    }
    while (values.size() < 3) {
      values.add(0.0);
    }
    double sum = 0;
    for (double v : values) {
      sum += v;
    }
    if (!(sum > 0) || Double.isInfinite(sum)) {
      throw new IllegalArgumentException("split '" + split + "' must have a positive sum");
    }
    double[] fractions = new double[3];
    long[] begin = new long[3];
    long[] end = new long[3];
    double bookend = 0; // Python's functools.reduce of a[-1] + b, in this order
    for (int i = 0; i < 3; i++) {
      fractions[i] = values.get(i) / sum;
      double next = bookend + fractions[i];
      begin[i] = Math.round(Math.rint(bookend * documents));
      end[i] = Math.round(Math.rint(next * documents));
      bookend = next;
    }
    return new SplitRanges(split, fractions, begin, end);
  }

  /** Documents in {@code split}; zero when it is absent. */
  public long documents(Split split) {
    return present(split) ? end[split.ordinal()] - begin[split.ordinal()] : 0;
  }

  /** Whether Megatron builds this split: its fraction is positive and it holds a document. */
  public boolean present(Split split) {
    int i = split.ordinal();
    return fractions[i] > 0 && end[i] > begin[i];
  }

  public long begin(Split split) {
    return begin[split.ordinal()];
  }

  public long end(Split split) {
    return end[split.ordinal()];
  }
}
