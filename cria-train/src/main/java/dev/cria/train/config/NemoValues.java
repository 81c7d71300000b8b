package dev.cria.train.config;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;

/**
 * The values of a NeMo config as {@link NemoLayout} reads them: YAML's and Hydra's spellings of
 * numbers and booleans accepted ({@code 3e-4} and {@code True} may arrive as text), converted to
 * what cria's key takes.
 */
final class NemoValues {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private NemoValues() {}

  /** What a mapped value must be. */
  enum Kind {
    INT,
    NUMBER,
    BOOL,
    TEXT,
    PATHS
  }

  static JsonNode convert(JsonNode v, Kind kind) {
    if (v.isNull()) {
      return v; // cria's key decides: null is its default for sizes and warmup, a mistake elsewhere
    }
    return switch (kind) {
      case INT -> {
        Long l = asLong(v);
        yield l == null ? null : NODES.numberNode(l);
      }
      case NUMBER -> {
        Double d = asDouble(v);
        yield d == null ? null : NODES.numberNode(d);
      }
      case BOOL -> {
        String t = text(v).toLowerCase(java.util.Locale.ROOT);
        yield t.equals("true") || t.equals("false") ? NODES.booleanNode(t.equals("true")) : null;
      }
      case TEXT -> v.isValueNode() && !v.isBoolean() ? NODES.textNode(text(v)) : null;
      case PATHS -> {
        if (v.isString()) {
          yield v;
        }
        if (!(v instanceof ArrayNode a)) {
          yield null;
        }
        ArrayNode list = NODES.arrayNode();
        for (JsonNode item : a) {
          if (!item.isValueNode() || item.isBoolean() || item.isNull()) {
            yield null;
          }
          list.add(item);
        }
        yield list;
      }
    };
  }

  /** Whether a switch is on: anything but null, false, 0 and empty text. */
  static boolean isOn(JsonNode v) {
    if (v == null || v.isNull()) {
      return false;
    }
    if (v.isBoolean()) {
      return v.booleanValue();
    }
    if (v.isNumber()) {
      return v.doubleValue() != 0;
    }
    String t = text(v).strip();
    return !(t.isEmpty() || t.equalsIgnoreCase("false") || t.equalsIgnoreCase("null"));
  }

  static String text(JsonNode v) {
    return v.isString() ? v.asString() : v.toString();
  }

  static Long asLong(JsonNode v) {
    if (v == null) {
      return null;
    }
    if (v.isIntegralNumber() && v.canConvertToLong()) {
      return v.longValue();
    }
    Double d = asDouble(v);
    return d != null && d == Math.rint(d) && Math.abs(d) < 1e18 ? (long) (double) d : null;
  }

  static Double asDouble(JsonNode v) {
    if (v == null || v.isNull() || v.isBoolean()) {
      return null;
    }
    if (v.isNumber()) {
      return v.doubleValue();
    }
    if (!v.isString()) {
      return null;
    }
    try {
      return Double.parseDouble(v.asString().strip());
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
