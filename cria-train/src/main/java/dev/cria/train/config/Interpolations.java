package dev.cria.train.config;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * OmegaConf's interpolations in a config tree, as NeMo's YAML files use them: {@code
 * ${model.encoder_seq_length}} (from the root), {@code ${.encoder_seq_length}} (a sibling; each
 * further dot one level up), {@code ${multiply:a, b}} (the resolver NeMo registers), and {@code
 * ???} (a value that must be given). A value that is one interpolation takes the referenced value
 * with its type; one with text around them becomes text. Values are resolved when read, as
 * OmegaConf does, so a key that is never read may hold what cria cannot resolve.
 */
final class Interpolations {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private static final String MISSING = "???";

  private final ObjectNode root;
  private final Deque<String> resolving = new ArrayDeque<>();

  Interpolations(ObjectNode root) {
    this.root = root;
  }

  /** Thrown for an interpolation that cannot be resolved; the message names the key. */
  /** What a {@code ???} left in the config says. */
  static final String REQUIRED = "is required (??? in the config: give it a value)";

  static final class Unresolvable extends RuntimeException {
    private final String missing;

    Unresolvable(String message) {
      this(message, null);
    }

    Unresolvable(String message, String missing) {
      super(message);
      this.missing = missing;
    }

    /** The path whose value is {@code ???} when that is what failed, else null. */
    String missing() {
      return missing;
    }
  }

  /**
   * The value at dotted {@code path} with its interpolations resolved, or null when the path is
   * absent.
   */
  JsonNode get(String path) {
    JsonNode raw = raw(path);
    return raw == null ? null : resolve(path, raw);
  }

  private JsonNode raw(String path) {
    JsonNode node = root;
    for (String part : path.split("\\.")) {
      if (!(node instanceof ObjectNode o) || !o.has(part)) {
        return null;
      }
      node = o.get(part);
    }
    return node;
  }

  private JsonNode resolve(String path, JsonNode value) {
    if (!value.isString()) {
      return value;
    }
    String text = value.asString();
    if (text.equals(MISSING)) {
      throw new Unresolvable(path + ": " + REQUIRED, path);
    }
    if (!text.contains("${")) {
      return value;
    }
    if (resolving.contains(path)) {
      throw new Unresolvable(
          path
              + ": its interpolation refers back to itself ("
              + String.join(" -> ", resolving)
              + " -> "
              + path
              + ")");
    }
    resolving.push(path);
    try {
      return substitute(path, text);
    } finally {
      resolving.pop();
    }
  }

  /** The text with each {@code ${...}} replaced; one interpolation alone keeps its type. */
  private JsonNode substitute(String path, String text) {
    List<Object> parts = new ArrayList<>();
    int i = 0;
    while (i < text.length()) {
      int start = text.indexOf("${", i);
      if (start < 0) {
        parts.add(text.substring(i));
        break;
      }
      if (start > i) {
        parts.add(text.substring(i, start));
      }
      int end = closing(text, start, path);
      parts.add(evaluate(path, text.substring(start + 2, end)));
      i = end + 1;
    }
    if (parts.size() == 1 && parts.getFirst() instanceof JsonNode node) {
      return node;
    }
    StringBuilder out = new StringBuilder();
    for (Object p : parts) {
      out.append(p instanceof JsonNode n ? (n.isString() ? n.asString() : n.toString()) : p);
    }
    return NODES.textNode(out.toString());
  }

  private static int closing(String text, int start, String path) {
    int depth = 0;
    for (int i = start; i < text.length(); i++) {
      if (text.startsWith("${", i)) {
        depth++;
        i++;
      } else if (text.charAt(i) == '}' && --depth == 0) {
        return i;
      }
    }
    throw new Unresolvable(path + ": unclosed interpolation in '" + text + "'");
  }

  /** One {@code ${...}} body: a reference or a resolver call. */
  private JsonNode evaluate(String path, String body) {
    body = body.strip();
    int colon = body.indexOf(':');
    if (colon > 0 && body.substring(0, colon).matches("[A-Za-z_][\\w.]*")) {
      return call(path, body.substring(0, colon), body.substring(colon + 1));
    }
    String target = absolute(path, body);
    JsonNode raw = raw(target);
    if (raw == null) {
      throw new Unresolvable(path + ": ${" + body + "} refers to " + target + ", which is not set");
    }
    return resolve(target, raw);
  }

  /** A reference made absolute: leading dots count from the node that holds {@code path}. */
  private static String absolute(String path, String ref) {
    if (!ref.startsWith(".")) {
      return ref;
    }
    int dots = 0;
    while (dots < ref.length() && ref.charAt(dots) == '.') {
      dots++;
    }
    List<String> parent = new ArrayList<>(List.of(path.split("\\.")));
    for (int up = 0; up < dots && !parent.isEmpty(); up++) {
      parent.removeLast();
    }
    String rest = ref.substring(dots);
    return parent.isEmpty() ? rest : String.join(".", parent) + "." + rest;
  }

  private JsonNode call(String path, String resolver, String args) {
    if (!resolver.equals("multiply")) {
      throw new Unresolvable(
          path + ": unknown resolver '" + resolver + "' (cria knows NeMo's multiply)");
    }
    double product = 1;
    boolean integral = true;
    for (String arg : args.split(",")) {
      String a = arg.strip();
      JsonNode v = a.contains("${") ? substitute(path, a) : NODES.textNode(a);
      double d;
      try {
        d = v.isNumber() ? v.doubleValue() : Double.parseDouble(v.asString().strip());
      } catch (NumberFormatException e) {
        throw new Unresolvable(path + ": multiply needs numbers, got '" + v.asString() + "'");
      }
      integral &= d == Math.rint(d);
      product *= d;
    }
    return integral && Math.abs(product) < 1e15
        ? NODES.numberNode((long) product)
        : NODES.numberNode(product);
  }
}
