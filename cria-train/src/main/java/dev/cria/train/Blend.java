package dev.cria.train;

import dev.cria.train.config.ConfigException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code data_prefix}: one prefix, or weight and prefix pairs as Megatron's {@code --data-path}.
 */
record Blend(List<Path> prefixes, double[] weights) {
  static Blend parse(List<String> items) {
    if (items.size() == 1) {
      return new Blend(List.of(Path.of(items.getFirst())), null);
    }
    String usage =
        "data.data_prefix: give one prefix, or weight and prefix pairs such as [0.7, a_text_document,"
            + " 0.3, b_text_document]; got "
            + items;
    if (items.isEmpty() || items.size() % 2 != 0) {
      throw new ConfigException(usage);
    }
    List<Path> prefixes = new ArrayList<>();
    double[] weights = new double[items.size() / 2];
    for (int i = 0; i < items.size(); i += 2) {
      try {
        weights[i / 2] = Double.parseDouble(items.get(i));
      } catch (NumberFormatException e) {
        throw new ConfigException(usage);
      }
      if (!(weights[i / 2] > 0) || Double.isInfinite(weights[i / 2])) {
        throw new ConfigException("data.data_prefix: weight " + items.get(i) + " must be positive");
      }
      prefixes.add(Path.of(items.get(i + 1)));
    }
    return new Blend(List.copyOf(prefixes), weights);
  }
}
