package dev.cria.data.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Hugging Face's {@code tokenizer.json} for Llama-style BPE: {@code model.type = "BPE"} with {@code
 * byte_fallback}, a vocabulary, an ordered merge list, and either the {@code Prepend("▁") +
 * Replace(" ", "▁")} normalizer (Llama-2) or a {@code Metaspace} pre-tokenizer that does not split
 * (newer files). Added tokens marked special become control pieces, other added tokens user-defined
 * pieces. A {@code tokenizer_config.json} beside it names BOS and EOS.
 */
public final class HfTokenizerJsonFile {
  private static final JsonMapper JSON = JsonMapper.builder().build();
  private static final String SPACE = String.valueOf(Normalizer.SPACE_SYMBOL);

  private HfTokenizerJsonFile() {}

  /** Reads {@code file}, and {@code tokenizer_config.json} beside it when present. */
  public static Tokenizer read(Path file) {
    try {
      return read(file, Files.readAllBytes(file));
    } catch (java.io.IOException e) {
      throw new TokenizerFormatException(file + ": cannot read: " + e.getMessage());
    }
  }

  /** Parses {@code bytes}, the contents of {@code file}, which names it and locates its config. */
  static Tokenizer read(Path file, byte[] bytes) {
    JsonNode root = parse(file, bytes);
    Path config = file.resolveSibling("tokenizer_config.json");
    JsonNode tokenizerConfig = null;
    if (Files.isRegularFile(config)) {
      try {
        tokenizerConfig = parse(config, Files.readAllBytes(config));
      } catch (java.io.IOException e) {
        throw new TokenizerFormatException(config + ": cannot read: " + e.getMessage());
      }
    }
    return fromJson(root, tokenizerConfig, file.toString());
  }

  private static JsonNode parse(Path file, byte[] bytes) {
    try {
      return JSON.readTree(bytes);
    } catch (JacksonException e) {
      String line = e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ")" : "";
      if (e.getOriginalMessage().startsWith("Trailing token")) { // Jackson's words for a 2nd value
        throw new TokenizerFormatException(
            file
                + ": more than one JSON value"
                + line
                + "; a tokenizer.json is one JSON object (is this a JSONL corpus?)");
      }
      throw new TokenizerFormatException(
          file + ": malformed JSON: " + e.getOriginalMessage() + line);
    }
  }

  static Tokenizer fromJson(JsonNode root, JsonNode tokenizerConfig, String source) {
    JsonNode model = root.path("model");
    String type = model.path("type").asString("");
    if (!type.equals("BPE")) {
      throw new TokenizerFormatException(
          source + ": model.type is \"" + type + "\"; cria reads BPE tokenizers");
    }
    if (!model.path("continuing_subword_prefix").isNull()
            && !model.path("continuing_subword_prefix").isMissingNode()
        || !model.path("end_of_word_suffix").isNull()
            && !model.path("end_of_word_suffix").isMissingNode()) {
      throw new TokenizerFormatException(
          source + ": continuing_subword_prefix / end_of_word_suffix are not supported");
    }
    boolean byteFallback = model.path("byte_fallback").asBoolean(false);
    boolean fuseUnknowns = model.path("fuse_unk").asBoolean(false); // Hugging Face's default
    Normalizer normalizer = normalizerOf(root, source);

    Map<Integer, String> byId = new HashMap<>();
    JsonNode vocab = model.path("vocab");
    if (!vocab.isObject() || vocab.isEmpty()) {
      throw new TokenizerFormatException(source + ": model.vocab is missing or empty");
    }
    for (Map.Entry<String, JsonNode> e : vocab.properties()) {
      putId(byId, e.getValue().asInt(-1), e.getKey(), source);
    }
    Map<String, Boolean> added = new HashMap<>();
    for (JsonNode t : root.path("added_tokens")) {
      String content = t.path("content").asString();
      putId(byId, t.path("id").asInt(-1), content, source);
      added.put(content, t.path("special").asBoolean(false));
    }
    int size = byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
    if (byId.size() != size) {
      throw new TokenizerFormatException(
          source + ": vocabulary ids are not contiguous from 0 to " + (size - 1));
    }
    String unkToken = model.path("unk_token").asString(null);

    List<String> pieces = new ArrayList<>(size);
    for (int id = 0; id < size; id++) {
      pieces.add(byId.get(id));
    }
    Map<String, Integer> ids = HashMap.newHashMap(size);
    for (int id = 0; id < size; id++) {
      ids.put(pieces.get(id), id);
    }
    List<int[]> merges = readMerges(model.path("merges"), ids, source);

    PieceType[] types = new PieceType[size];
    float[] scores = new float[size];
    Arrays.fill(scores, Float.NaN);
    for (int rank = 0; rank < merges.size(); rank++) {
      int merged = merges.get(rank)[2];
      if (Float.isNaN(scores[merged])) {
        scores[merged] = -rank;
      }
    }
    for (int id = 0; id < size; id++) {
      String piece = pieces.get(id);
      Boolean special = added.get(piece);
      if (piece.equals(unkToken)) {
        types[id] = PieceType.UNKNOWN;
      } else if (special != null) {
        types[id] = special ? PieceType.CONTROL : PieceType.USER_DEFINED;
      } else if (byteFallback && isBytePiece(piece)) {
        types[id] = PieceType.BYTE;
      } else {
        types[id] = PieceType.NORMAL;
      }
      if (Float.isNaN(scores[id])) {
        scores[id] = types[id] == PieceType.NORMAL ? -(merges.size() + id) : 0f;
      }
    }
    Vocabulary vocabulary = Vocabulary.of(pieces, scores, types);
    int unk = unkToken == null ? -1 : vocabulary.id(unkToken);
    SpecialTokens specials =
        new SpecialTokens(
            unk,
            specialId(tokenizerConfig, "bos_token", "<s>", vocabulary),
            specialId(tokenizerConfig, "eos_token", "</s>", vocabulary),
            specialId(tokenizerConfig, "pad_token", null, vocabulary));
    BpeModel bpe =
        BpeModel.fromMerges(
            vocabulary, normalizer, byteFallback, fuseUnknowns, Math.max(unk, 0), merges);
    return new Tokenizer(bpe, specials, "Hugging Face tokenizer.json " + source);
  }

  private static void putId(Map<Integer, String> byId, int id, String piece, String source) {
    if (id < 0) {
      throw new TokenizerFormatException(
          source + ": token " + Vocabulary.quote(piece) + " has no valid id");
    }
    String previous = byId.putIfAbsent(id, piece);
    if (previous != null && !previous.equals(piece)) {
      throw new TokenizerFormatException(
          source
              + ": id "
              + id
              + " names both "
              + Vocabulary.quote(previous)
              + " and "
              + Vocabulary.quote(piece));
    }
  }

  private static List<int[]> readMerges(JsonNode merges, Map<String, Integer> ids, String source) {
    List<int[]> out = new ArrayList<>(merges.size());
    int index = 0;
    for (JsonNode m : merges) {
      String left;
      String right;
      if (m.isArray() && m.size() == 2) {
        left = m.get(0).asString();
        right = m.get(1).asString();
      } else if (m.isString() && m.stringValue().indexOf(' ') > 0) {
        String s = m.stringValue();
        int cut = s.indexOf(' ');
        left = s.substring(0, cut);
        right = s.substring(cut + 1);
      } else {
        throw new TokenizerFormatException(
            source + ": model.merges[" + index + "] is neither \"a b\" nor [a, b]");
      }
      Integer l = ids.get(left);
      Integer r = ids.get(right);
      Integer merged = ids.get(left + right);
      if (l == null || r == null || merged == null) {
        throw new TokenizerFormatException(
            source
                + ": model.merges["
                + index
                + "] "
                + Vocabulary.quote(left)
                + " + "
                + Vocabulary.quote(right)
                + " uses a piece missing from the vocabulary");
      }
      out.add(new int[] {l, r, merged});
      index++;
    }
    return out;
  }

  private static Normalizer normalizerOf(JsonNode root, String source) {
    JsonNode normalizer = root.path("normalizer");
    JsonNode preTokenizer = root.path("pre_tokenizer");
    boolean prepend = false;
    boolean replace = false;
    if (!normalizer.isNull() && !normalizer.isMissingNode()) {
      List<JsonNode> steps = new ArrayList<>();
      if (normalizer.path("type").asString("").equals("Sequence")) {
        normalizer.path("normalizers").forEach(steps::add);
      } else {
        steps.add(normalizer);
      }
      for (JsonNode step : steps) {
        String type = step.path("type").asString("");
        if (type.equals("Prepend") && step.path("prepend").asString("").equals(SPACE)) {
          prepend = true;
        } else if (type.equals("Replace")
            && step.path("pattern").path("String").asString("").equals(" ")
            && step.path("content").asString("").equals(SPACE)) {
          replace = true;
        } else {
          throw new TokenizerFormatException(
              source + ": normalizer step " + step + " is not supported");
        }
      }
    }
    if (!preTokenizer.isNull() && !preTokenizer.isMissingNode()) {
      String type = preTokenizer.path("type").asString("");
      if (!type.equals("Metaspace")
          || !preTokenizer.path("replacement").asString("").equals(SPACE)
          || preTokenizer.path("split").asBoolean(true)) {
        throw new TokenizerFormatException(
            source
                + ": pre_tokenizer "
                + preTokenizer
                + " is not supported (only a Metaspace with split=false, as Llama's)");
      }
      replace = true;
      prepend |= !preTokenizer.path("prepend_scheme").asString("always").equals("never");
    }
    return new Normalizer(prepend, false, replace);
  }

  private static int specialId(
      JsonNode config, String field, String fallback, Vocabulary vocabulary) {
    String piece = fallback;
    if (config != null && config.has(field)) {
      JsonNode value = config.get(field);
      piece =
          value.isObject()
              ? value.path("content").asString(null)
              : value.isString() ? value.stringValue() : null;
    }
    return piece == null ? -1 : vocabulary.id(piece);
  }

  private static boolean isBytePiece(String piece) {
    return piece.length() == 6
        && piece.startsWith("<0x")
        && piece.endsWith(">")
        && Character.digit(piece.charAt(3), 16) >= 0
        && Character.digit(piece.charAt(4), 16) >= 0;
  }

  /**
   * Why {@code tokenizer} has no faithful {@code tokenizer.json}, if it has none: Hugging Face's
   * normalizers as cria writes them do not strip and collapse spaces as SentencePiece does, and its
   * BPE has no UNUSED pieces (which SentencePiece splits back into the pieces they merged from).
   * Such a tokenizer is kept as a {@code tokenizer.model}, which Hugging Face also loads.
   */
  public static Optional<String> cannotWrite(Tokenizer tokenizer) {
    if (tokenizer.normalizer().removeExtraWhitespaces()) {
      return Optional.of("it removes extra whitespace (remove_extra_whitespaces)");
    }
    Vocabulary v = tokenizer.vocabulary();
    for (int id = 0; id < v.size(); id++) {
      if (v.type(id) == PieceType.UNUSED) {
        return Optional.of("it has UNUSED pieces, " + Vocabulary.quote(v.piece(id)) + " the first");
      }
    }
    return Optional.empty();
  }

  /**
   * Writes {@code tokenizer} as a Llama-2 style {@code tokenizer.json}: the vocabulary, merges
   * derived from the scores as Hugging Face's converter does (every split of a piece into two
   * pieces, best score first), the Prepend/Replace normalizer and the matching decoder.
   */
  public static String write(Tokenizer tokenizer) {
    cannotWrite(tokenizer)
        .ifPresent(why -> {
          throw new TokenizerFormatException(
              tokenizer.description() + " cannot be written as a tokenizer.json: " + why);
        });
    Vocabulary v = tokenizer.vocabulary();
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (int id = 0; id < v.size(); id++) {
      PieceType t = v.type(id);
      if (t == PieceType.CONTROL || t == PieceType.UNKNOWN || t == PieceType.USER_DEFINED) {
        ObjectNode a = added.addObject();
        a.put("id", id);
        a.put("content", v.piece(id));
        a.put("single_word", false);
        a.put("lstrip", false);
        a.put("rstrip", false);
        a.put("normalized", t == PieceType.USER_DEFINED);
        a.put("special", t != PieceType.USER_DEFINED);
      }
    }
    Normalizer n = tokenizer.normalizer();
    ObjectNode normalizer = root.putObject("normalizer");
    normalizer.put("type", "Sequence");
    ArrayNode steps = normalizer.putArray("normalizers");
    if (n.addDummyPrefix()) {
      steps.addObject().put("type", "Prepend").put("prepend", SPACE);
    }
    if (n.escapeWhitespaces()) {
      ObjectNode replace = steps.addObject().put("type", "Replace");
      replace.putObject("pattern").put("String", " ");
      replace.put("content", SPACE);
    }
    root.putNull("pre_tokenizer");
    root.putNull("post_processor");
    ObjectNode decoder = root.putObject("decoder");
    decoder.put("type", "Sequence");
    ArrayNode decoders = decoder.putArray("decoders");
    ObjectNode unescape = decoders.addObject().put("type", "Replace");
    unescape.putObject("pattern").put("String", SPACE);
    unescape.put("content", " ");
    decoders.addObject().put("type", "ByteFallback");
    decoders.addObject().put("type", "Fuse");
    if (n.addDummyPrefix()) {
      decoders.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
    }
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.putNull("dropout");
    SpecialTokens s = tokenizer.specials();
    if (s.unk() >= 0) {
      model.put("unk_token", v.piece(s.unk()));
    }
    model.putNull("continuing_subword_prefix");
    model.putNull("end_of_word_suffix");
    model.put("fuse_unk", tokenizer.fusesUnknowns());
    model.put("byte_fallback", tokenizer.byteFallback());
    ObjectNode vocab = model.putObject("vocab");
    for (int id = 0; id < v.size(); id++) {
      vocab.put(v.piece(id), id);
    }
    ArrayNode merges = model.putArray("merges");
    for (int[] m : mergesFromScores(v)) {
      merges.addArray().add(v.piece(m[0])).add(v.piece(m[1]));
    }
    return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
  }

  /**
   * A {@code tokenizer_config.json} for {@code tokenizer}: Llama's (BOS added, EOS not, the special
   * pieces named), so Hugging Face's {@code AutoTokenizer} loads the directory.
   */
  public static String writeConfig(Tokenizer tokenizer) {
    Vocabulary v = tokenizer.vocabulary();
    SpecialTokens s = tokenizer.specials();
    ObjectNode config = JSON.createObjectNode();
    config.put("tokenizer_class", "LlamaTokenizerFast");
    config.put("add_bos_token", true);
    config.put("add_eos_token", false);
    config.put("legacy", true);
    config.put("clean_up_tokenization_spaces", false);
    if (s.unk() >= 0) {
      config.put("unk_token", v.piece(s.unk()));
    }
    if (s.bos() >= 0) {
      config.put("bos_token", v.piece(s.bos()));
    }
    if (s.eos() >= 0) {
      config.put("eos_token", v.piece(s.eos()));
    }
    if (s.pad() >= 0) {
      config.put("pad_token", v.piece(s.pad()));
    } else {
      config.putNull("pad_token");
    }
    return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config);
  }

  /** Hugging Face's SentencePiece converter: each split of a piece into two pieces, by score. */
  private static List<int[]> mergesFromScores(Vocabulary v) {
    List<int[]> merges = new ArrayList<>();
    for (int id = 0; id < v.size(); id++) {
      if (v.type(id) != PieceType.NORMAL) {
        continue;
      }
      String piece = v.piece(id);
      for (int cut = 1; cut < piece.length(); cut++) {
        if (Character.isLowSurrogate(piece.charAt(cut))) {
          continue;
        }
        int l = v.id(piece.substring(0, cut));
        int r = v.id(piece.substring(cut));
        if (l >= 0 && r >= 0 && v.type(l) == PieceType.NORMAL && v.type(r) == PieceType.NORMAL) {
          merges.add(new int[] {l, r, id});
        }
      }
    }
    merges.sort((a, b) -> {
      int c = Float.compare(v.score(b[2]), v.score(a[2]));
      if (c != 0) {
        return c;
      }
      c = Integer.compare(a[0], b[0]);
      return c != 0 ? c : Integer.compare(a[1], b[1]);
    });
    return merges;
  }
}
