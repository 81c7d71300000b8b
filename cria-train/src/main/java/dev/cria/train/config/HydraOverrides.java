package dev.cria.train.config;

import java.util.List;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * Hydra's command-line overrides, as NeMo's launch scripts pass them after the flags: {@code
 * key=value} changes a key the config has, {@code +key=value} adds one it does not have, {@code
 * ++key=value} sets one either way, {@code ~key} removes one. Values are Hydra's: numbers, {@code
 * true}/{@code True}, {@code null}, lists such as {@code [1.0,/data/x]}, quoted or plain text.
 */
public final class HydraOverrides {
  private static final YAMLMapper YAML = YAMLMapper.builder().build();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private HydraOverrides() {}

  /** Whether {@code arg} looks like an override rather than a stray word. */
  public static boolean isOverride(String arg) {
    return arg.startsWith("~") || arg.indexOf('=') > 0;
  }

  /** Applies {@code overrides} to {@code tree} in order; each mistake goes to {@code problems}. */
  static void apply(ObjectNode tree, List<String> overrides, Problems problems) {
    for (String arg : overrides) {
      String why = applyOne(tree, arg);
      if (why != null) {
        problems.add("override '" + arg + "': " + why);
      }
    }
  }

  /** Applies one override; returns what is wrong with it, or null. */
  private static String applyOne(ObjectNode tree, String arg) {
    String op =
        arg.startsWith("++") ? "++" : arg.startsWith("+") ? "+" : arg.startsWith("~") ? "~" : "";
    String body = arg.substring(op.length());
    int eq = body.indexOf('=');
    if (eq < 0 && !op.equals("~")) {
      return "expected key=value";
    }
    String key = eq < 0 ? body : body.substring(0, eq);
    if (!key.matches("[A-Za-z_][\\w-]*(\\.[A-Za-z_][\\w-]*)*")) {
      return "'" + key + "' is not a dotted key such as model.optim.lr";
    }
    String[] parts = key.split("\\.");
    ObjectNode parent = tree;
    for (int i = 0; i < parts.length - 1; i++) {
      JsonNode child = parent.get(parts[i]);
      if (child == null || child.isNull()) {
        if (!op.startsWith("+")) {
          return notInConfig(tree, key, body);
        }
        child = NODES.objectNode();
        parent.set(parts[i], child);
      } else if (!(child instanceof ObjectNode)) {
        return String.join(".", List.of(parts).subList(0, i + 1)) + " is a value, not a mapping";
      }
      parent = (ObjectNode) child;
    }
    String leaf = parts[parts.length - 1];
    boolean present = parent.has(leaf);
    switch (op) {
      case "~" -> {
        if (!present) {
          return key + " is not in the config";
        }
        parent.remove(leaf);
        return null;
      }
      case "" -> {
        if (!present) {
          return notInConfig(tree, key, body);
        }
      }
      case "+" -> {
        if (present) {
          return key
              + " is already in the config: write "
              + body
              + " to change it (or ++"
              + body
              + ")";
        }
      }
      default -> {}
    }
    try {
      parent.set(leaf, value(body.substring(eq + 1)));
    } catch (IllegalArgumentException e) {
      return e.getMessage();
    }
    return null;
  }

  /**
   * Why {@code key} cannot be changed, and what was most likely meant: the same key in the other
   * layout (cria's {@code optim.lr} is NeMo's {@code model.optim.lr}, and the reverse) when the
   * config has it, else how to add it.
   */
  private static String notInConfig(ObjectNode tree, String key, String body) {
    String value = body.substring(body.indexOf('=') + 1);
    List<String> candidates = new java.util.ArrayList<>();
    for (int dot = key.indexOf('.'); dot > 0; dot = key.indexOf('.', dot + 1)) {
      candidates.add(key.substring(dot + 1));
    }
    candidates.add("model." + key);
    for (String other : candidates) {
      if (has(tree, other)) {
        return key
            + " is not in the config, which has "
            + other
            + " (cria's and NeMo's layouts differ): write "
            + other
            + "="
            + value;
      }
    }
    int dot = key.lastIndexOf('.');
    JsonNode parent = dot < 0 ? tree : node(tree, key.substring(0, dot));
    String leaf = key.substring(dot + 1);
    if (parent != null && parent.isObject()) {
      for (String sibling : parent.propertyNames()) {
        if (typo(leaf, sibling)) {
          String near = dot < 0 ? sibling : key.substring(0, dot + 1) + sibling;
          return key
              + " is not in the config; did you mean "
              + near
              + "? (write "
              + near
              + "="
              + value
              + "; to add a new key, +"
              + body
              + ")";
        }
      }
    }
    return key + " is not in the config; to add it write +" + body;
  }

  /** Whether {@code a} is {@code b} with one letter changed, added, dropped or two swapped. */
  static boolean typo(String a, String b) {
    if (a.equals(b) || Math.abs(a.length() - b.length()) > 1) {
      return false;
    }
    int i = 0;
    while (i < Math.min(a.length(), b.length()) && a.charAt(i) == b.charAt(i)) {
      i++;
    }
    String ra = a.substring(i);
    String rb = b.substring(i);
    return ra.length() == rb.length()
        ? ra.substring(1).equals(rb.substring(1))
            || (ra.length() >= 2
                && ra.charAt(0) == rb.charAt(1)
                && ra.charAt(1) == rb.charAt(0)
                && ra.substring(2).equals(rb.substring(2)))
        : ra.length() > rb.length() ? ra.substring(1).equals(rb) : rb.substring(1).equals(ra);
  }

  /** Whether {@code tree} has the dotted {@code key}. */
  private static boolean has(ObjectNode tree, String key) {
    return node(tree, key) != null;
  }

  /** The node at the dotted {@code key}, or null. */
  private static JsonNode node(ObjectNode tree, String key) {
    JsonNode node = tree;
    for (String part : key.split("\\.")) {
      node = node.isObject() ? node.get(part) : null;
      if (node == null) {
        return null;
      }
    }
    return node;
  }

  /** A value as Hydra's grammar reads it (a YAML scalar or flow list); otherwise the text. */
  static JsonNode value(String text) {
    if (text.isEmpty()) {
      return NODES.textNode("");
    }
    try {
      JsonNode node = YAML.readTree(text);
      return node == null || node.isMissingNode() ? NODES.nullNode() : typed(node);
    } catch (JacksonException e) {
      if (text.startsWith("[") || text.startsWith("{")) {
        throw new IllegalArgumentException(
            "'"
                + text
                + "' is not a list or mapping as Hydra writes them ([a,b], {k: v}: check the"
                + " brackets), and text starting with "
                + text.charAt(0)
                + " must be quoted");
      }
      return NODES.textNode(text);
    }
  }

  /** Plain text that Hydra reads as a boolean, null or number (YAML keeps {@code True} text). */
  private static JsonNode typed(JsonNode node) {
    if (node.isArray()) {
      tools.jackson.databind.node.ArrayNode list = NODES.arrayNode();
      node.forEach(item -> list.add(typed(item)));
      return list;
    }
    if (!node.isString()) {
      return node;
    }
    String t = node.asString();
    if (t.matches("(?i)true|false")) {
      return NODES.booleanNode(t.equalsIgnoreCase("true"));
    }
    if (t.matches("(?i)null")) {
      return NODES.nullNode();
    }
    if (t.matches("[-+]?\\d+")) {
      try {
        return NODES.numberNode(Long.parseLong(t));
      } catch (NumberFormatException e) {
        return node;
      }
    }
    if (t.matches("[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?|[-+]?(?i)(inf|nan)")) {
      return NODES.numberNode(
          Double.parseDouble(t.replaceAll("(?i)inf", "Infinity").replaceAll("(?i)nan", "NaN")));
    }
    return node;
  }
}
