package dev.cria.data.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The plain reference for {@link BpeEncoder}: SentencePiece's BPE written as directly as possible,
 * on strings, O(n^2) per text. Merge the adjacent pair whose concatenation is the mergeable piece
 * with the highest score, leftmost first; then map pieces to ids, unknown ones to bytes.
 */
final class NaiveBpe {
  private NaiveBpe() {}

  static int[] encode(Tokenizer tokenizer, String text) {
    Vocabulary v = tokenizer.vocabulary();
    String normalized = tokenizer.normalizer().normalize(text);
    List<String> symbols = new ArrayList<>();
    normalized.codePoints().forEach(cp -> symbols.add(new String(Character.toChars(cp))));
    while (true) {
      int best = -1;
      float bestScore = Float.NEGATIVE_INFINITY;
      for (int i = 0; i + 1 < symbols.size(); i++) {
        int id = v.id(symbols.get(i) + symbols.get(i + 1));
        if (id >= 0 && v.type(id).isMergeable() && (best < 0 || v.score(id) > bestScore)) {
          best = i;
          bestScore = v.score(id);
        }
      }
      if (best < 0) {
        break;
      }
      symbols.set(best, symbols.get(best) + symbols.remove(best + 1));
    }
    List<Integer> ids = new ArrayList<>();
    for (String s : symbols) {
      int id = v.id(s);
      if (id >= 0 && v.type(id).isMergeable()) {
        ids.add(id);
      } else {
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
          ids.add(v.byteId(b));
        }
      }
    }
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }
}
