package dev.cria.data.prepare;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.json.JsonFactory;

/**
 * Parses one JSONL line into the strings under the wanted keys, with Python's strictness: the bytes
 * must be valid UTF-8, the line one JSON object and nothing after it, every key present with a
 * string value (the last one wins when a key repeats). Thread-safe.
 */
final class JsonLineParser {
  private static final JsonFactory JSON = new JsonFactory();

  private final List<String> keys;

  JsonLineParser(List<String> keys) {
    this.keys = List.copyOf(keys);
  }

  /** Fills {@code texts[i]} with the value of key {@code i}, or throws naming file and line. */
  void parse(byte[] data, int from, int to, String[] texts, Path file, long lineNumber) {
    int invalid = Utf8.firstInvalid(data, from, to);
    if (invalid >= 0) {
      throw new BadInputException(
          file,
          lineNumber,
          String.format(
              "invalid UTF-8 byte 0x%02X at byte %d of the line",
              data[invalid] & 0xFF, invalid - from + 1));
    }
    Arrays.fill(texts, null);
    try (JsonParser p = JSON.createParser(ObjectReadContext.empty(), data, from, to - from)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new BadInputException(file, lineNumber, "line is not a JSON object");
      }
      JsonToken t;
      while ((t = p.nextToken()) == JsonToken.PROPERTY_NAME) {
        int key = keys.indexOf(p.currentName());
        JsonToken value = p.nextToken();
        if (key < 0) {
          p.skipChildren();
          continue;
        }
        if (value != JsonToken.VALUE_STRING) {
          throw new BadInputException(
              file,
              lineNumber,
              "key \"" + keys.get(key) + "\" holds " + describe(value) + ", expected a string");
        }
        texts[key] = p.getString();
      }
      if (t != JsonToken.END_OBJECT || p.nextToken() != null) {
        throw new BadInputException(file, lineNumber, "unexpected content after the JSON object");
      }
    } catch (JacksonException e) {
      throw new BadInputException(file, lineNumber, "malformed JSON: " + e.getOriginalMessage());
    }
    for (int i = 0; i < texts.length; i++) {
      if (texts[i] == null) {
        throw new BadInputException(file, lineNumber, "missing key \"" + keys.get(i) + "\"");
      }
    }
  }

  /** Whether the line holds nothing but spaces, tabs and carriage returns. */
  static boolean isBlank(byte[] b, int from, int to) {
    for (int i = from; i < to; i++) {
      byte c = b[i];
      if (c != ' ' && c != '\t' && c != '\r') {
        return false;
      }
    }
    return true;
  }

  private static String describe(JsonToken token) {
    return switch (token) {
      case START_OBJECT -> "an object";
      case START_ARRAY -> "an array";
      case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
      case VALUE_TRUE, VALUE_FALSE -> "a boolean";
      case VALUE_NULL -> "null";
      default -> token.toString();
    };
  }
}
