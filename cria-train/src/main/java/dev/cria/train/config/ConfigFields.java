package dev.cria.train.config;

import static dev.cria.train.config.TrainConfigFile.describe;

import dev.cria.engine.model.Precision;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/** One mapping of the tree, read field by field; remembers which keys were read. */
final class ConfigFields {
  private final ObjectNode node;
  private final String source;
  private final String prefix;
  private final Problems problems;
  private final Set<String> read = new LinkedHashSet<>();
  private final Set<String> invalid = new LinkedHashSet<>();

  ConfigFields(ObjectNode node, String source, String prefix, Problems problems) {
    this.node = node;
    this.source = source;
    this.prefix = prefix;
    this.problems = problems;
  }

  /** Records a mistake in {@code key} and returns {@code fallback}, so binding goes on. */
  private <T> T error(String key, String problem, T fallback) {
    invalid.add(key);
    problems.add(source + ": " + prefix + key + ": " + problem);
    return fallback;
  }

  /** Whether {@code key} was read without a mistake. */
  boolean valid(String key) {
    return !invalid.contains(key);
  }

  /** Whether {@code key} is absent or null; it counts as read. */
  boolean absent(String key) {
    read.add(key);
    return isNull(key);
  }

  boolean isNull(String key) {
    JsonNode v = node.get(key);
    return v == null || v.isNull();
  }

  /** An integer field's value for another field's default, without reading it (0 if not one). */
  long peekInteger(String key) {
    JsonNode v = node.get(key);
    if (v == null) {
      return 0;
    }
    if (v.isNumber()) {
      return v.longValue();
    }
    return v.isString() && v.asString().strip().matches("-?\\d{1,18}")
        ? Long.parseLong(v.asString().strip())
        : 0;
  }

  private JsonNode get(String key) {
    read.add(key);
    JsonNode v = node.get(key);
    return v == null || v.isNull() ? null : v;
  }

  ConfigFields section(String key) {
    JsonNode v = get(key);
    if (v == null) {
      return new ConfigFields(
          JsonNodeFactory.instance.objectNode(), source, prefix + key + ".", problems);
    }
    if (!(v instanceof ObjectNode o)) {
      error(key, "expected a mapping, got " + describe(v), null);
      return new ConfigFields(
          JsonNodeFactory.instance.objectNode(), source, prefix + key + ".", problems);
    }
    return new ConfigFields(o, source, prefix + key + ".", problems);
  }

  String string(String key, boolean optional) {
    JsonNode v = get(key);
    if (v == null) {
      return optional ? null : error(key, "is required", "");
    }
    if (!v.isValueNode() || v.isBoolean()) {
      return error(key, "expected text, got " + describe(v), "");
    }
    return v.asString();
  }

  List<String> strings(String key) {
    JsonNode v = get(key);
    if (v == null) {
      return List.of();
    }
    if (v.isString()) {
      return List.of(v.asString());
    }
    if (!v.isArray()) {
      return error(key, "expected a path or a list of paths, got " + describe(v), List.of());
    }
    List<String> out = new ArrayList<>();
    for (JsonNode item : v) {
      if (!item.isString() && !item.isNumber()) {
        return error(key, "expected paths (and blend weights), got " + describe(item), List.of());
      }
      out.add(item.asString());
    }
    return List.copyOf(out);
  }

  long integer(String key, long min, long max) {
    JsonNode v = get(key);
    if (v == null) {
      return error(key, "is required", min);
    }
    long value;
    if (v.isIntegralNumber() && v.canConvertToLong()) {
      value = v.longValue();
    } else if (v.isFloatingPointNumber()
        && v.doubleValue() == Math.rint(v.doubleValue())
        && Math.abs(v.doubleValue()) < 1e18) {
      value = (long) v.doubleValue(); // 1e3 in YAML
    } else if (v.isString() && v.asString().strip().matches("-?\\d{1,18}")) {
      value = Long.parseLong(v.asString().strip());
    } else {
      return error(key, "expected an integer, got " + describe(v), min);
    }
    if (value < min || value > max) {
      return error(key, "must be " + range(min, max) + ", got " + value, min);
    }
    return value;
  }

  long zeroStage(String key) { // 1: AdamW's moments sharded, 2: the gradients, 3: the parameters
    return integer(key, 1, 3);
  }

  Precision precision(String key) {
    JsonNode v = get(key);
    if (v == null) {
      return error(key, "is required", Precision.FP32);
    }
    if (!v.isValueNode() || v.isBoolean()) {
      return error(key, "expected 32, bf16-mixed or bf16-sr, got " + describe(v), Precision.FP32);
    }
    try {
      return Precision.parse(v.asString());
    } catch (IllegalArgumentException e) {
      return error(key, e.getMessage(), Precision.FP32);
    }
  }

  boolean bool(String key) {
    JsonNode v = get(key);
    if (v == null) {
      return error(key, "is required", false);
    }
    if (v.isBoolean()) {
      return v.booleanValue();
    }
    if (v.isString() && v.asString().strip().matches("(?i)true|false")) {
      return Boolean.parseBoolean(v.asString().strip());
    }
    return error(key, "expected true or false, got " + describe(v), false);
  }

  Integer positiveOrNull(String key) {
    if (isNull(key)) {
      read.add(key);
      return null;
    }
    return (int) integer(key, 1, 1 << 24);
  }

  Double numberOrNull(String key, double min, double max) {
    if (isNull(key)) {
      read.add(key);
      return null;
    }
    return number(key, min, max);
  }

  double number(String key, double min, double max) {
    JsonNode v = get(key);
    if (v == null) {
      return error(key, "is required", min);
    }
    double value;
    if (v.isNumber()) {
      value = v.doubleValue();
    } else if (v.isString()) {
      try {
        value = Double.parseDouble(v.asString().strip()); // YAML 1.1 reads 1e-3 as text
      } catch (NumberFormatException e) {
        return error(key, "expected a number, got " + describe(v), min);
      }
    } else {
      return error(key, "expected a number, got " + describe(v), min);
    }
    if (!(value >= min && value <= max)) {
      return error(
          key, "must be between " + plain(min) + " and " + plain(max) + ", got " + value, min);
    }
    return value;
  }

  /** {@code x} as a person writes it: 3600, not 3600.0. */
  private static String plain(double x) {
    return x == Math.rint(x) && Math.abs(x) < 1e15 ? Long.toString((long) x) : Double.toString(x);
  }

  void rejectUnknown() {
    Iterator<String> names = node.propertyNames().iterator();
    while (names.hasNext()) {
      String name = names.next();
      if (!read.contains(name)) {
        error(name, "unknown key (known here: " + String.join(", ", read) + ")", null);
      }
    }
  }

  private static String range(long min, long max) {
    if (max == Long.MAX_VALUE || max == Integer.MAX_VALUE) {
      return min == 0 ? "zero or more" : "at least " + min;
    }
    return "between " + min + " and " + max;
  }
}
