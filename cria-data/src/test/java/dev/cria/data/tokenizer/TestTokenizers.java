package dev.cria.data.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Small hand-made tokenizers for tests that must run without ../shared. */
public final class TestTokenizers {
  private TestTokenizers() {}

  /**
   * A Llama-layout tokenizer: specials, 256 byte pieces, "▁", a-z, A-Z, space-prefixed letters and
   * a few merged words; written as tokenizer.json into {@code dir} and loaded from there.
   */
  public static Tokenizer tiny(Path dir) throws IOException {
    List<String> pieces = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
    for (int b = 0; b < 256; b++) {
      pieces.add(Vocabulary.bytePiece(b));
    }
    // Merged pieces in priority order; the merges are every split of a piece into two pieces, in
    // that order, as Hugging Face's SentencePiece converter writes them, so both semantics agree.
    String[] merged = {
      "th", "the", "▁t", "▁the", "he", "in", "▁a", "an", "nd", "and", "▁and", "er", "▁w", "wo"
    };
    pieces.addAll(List.of(merged));
    pieces.add("▁");
    for (char c = 'a'; c <= 'z'; c++) {
      pieces.add(String.valueOf(c));
    }
    for (char c = 'A'; c <= 'Z'; c++) {
      pieces.add(String.valueOf(c));
    }
    pieces.add(".");
    List<String[]> merges = new ArrayList<>();
    for (String m : merged) {
      for (int cut = 1; cut < m.length(); cut++) {
        if (pieces.contains(m.substring(0, cut)) && pieces.contains(m.substring(cut))) {
          merges.add(new String[] {m.substring(0, cut), m.substring(cut)});
        }
      }
    }
    StringBuilder json = new StringBuilder();
    json.append("{\"version\":\"1.0\",\"added_tokens\":[")
        .append("{\"id\":0,\"content\":\"<unk>\",\"special\":true},")
        .append("{\"id\":1,\"content\":\"<s>\",\"special\":true},")
        .append("{\"id\":2,\"content\":\"</s>\",\"special\":true}],")
        .append("\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[")
        .append("{\"type\":\"Prepend\",\"prepend\":\"▁\"},")
        .append("{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"▁\"}]},")
        .append("\"pre_tokenizer\":null,")
        .append(
            "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"byte_fallback\":true,\"vocab\":{");
    for (int i = 0; i < pieces.size(); i++) {
      json.append(i == 0 ? "" : ",")
          .append('"')
          .append(escape(pieces.get(i)))
          .append("\":")
          .append(i);
    }
    json.append("},\"merges\":[");
    for (int i = 0; i < merges.size(); i++) {
      json.append(i == 0 ? "" : ",")
          .append("[\"")
          .append(merges.get(i)[0])
          .append("\",\"")
          .append(merges.get(i)[1])
          .append("\"]");
    }
    json.append("]}}");
    Files.createDirectories(dir);
    Path file = dir.resolve("tokenizer.json");
    Files.writeString(file, json);
    return Tokenizers.load(file);
  }

  private static String escape(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"");
  }
}
