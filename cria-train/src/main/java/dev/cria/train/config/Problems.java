package dev.cria.train.config;

import java.util.ArrayList;
import java.util.List;

/**
 * The mistakes found in a config, gathered so that all of them are reported together, one line
 * each, rather than the first alone.
 */
final class Problems {
  private final List<String> lines = new ArrayList<>();

  void add(String line) {
    lines.add(line);
  }

  boolean isEmpty() {
    return lines.isEmpty();
  }

  List<String> lines() {
    return List.copyOf(lines);
  }

  /** Throws one {@link ConfigException} listing every mistake, if there was any. */
  void throwIfAny() {
    if (lines.isEmpty()) {
      return;
    }
    if (lines.size() == 1) {
      throw new ConfigException(lines.getFirst());
    }
    throw new ConfigException(
        lines.size() + " mistakes in the config:\n  " + String.join("\n  ", lines));
  }
}
