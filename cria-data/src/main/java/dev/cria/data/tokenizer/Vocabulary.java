package dev.cria.data.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The pieces of a tokenizer, by id: text, score and {@link PieceType}. Immutable.
 *
 * <p>Byte-fallback pieces are named {@code <0xNN>} with two upper-case hex digits, as in
 * SentencePiece.
 */
public final class Vocabulary {
  private final String[] pieces;
  private final float[] scores;
  private final PieceType[] types;
  private final Map<String, Integer> ids;
  private final int[] byteIds;

  private Vocabulary(String[] pieces, float[] scores, PieceType[] types) {
    this.pieces = pieces;
    this.scores = scores;
    this.types = types;
    this.ids = HashMap.newHashMap(pieces.length);
    for (int i = 0; i < pieces.length; i++) {
      if (ids.putIfAbsent(pieces[i], i) != null) {
        throw new IllegalArgumentException(
            "piece "
                + quote(pieces[i])
                + " appears twice (ids "
                + ids.get(pieces[i])
                + " and "
                + i
                + ")");
      }
    }
    this.byteIds = new int[256];
    Arrays.fill(byteIds, -1);
    for (int b = 0; b < 256; b++) {
      Integer id = ids.get(bytePiece(b));
      if (id != null && types[id] == PieceType.BYTE) {
        byteIds[b] = id;
      }
    }
  }

  /** A vocabulary of the given pieces; the three arrays are parallel and copied. */
  public static Vocabulary of(List<String> pieces, float[] scores, PieceType[] types) {
    if (pieces.size() != scores.length || pieces.size() != types.length) {
      throw new IllegalArgumentException("pieces, scores and types differ in length");
    }
    return new Vocabulary(pieces.toArray(String[]::new), scores.clone(), types.clone());
  }

  /** The name of the byte-fallback piece for byte {@code b} (0..255), e.g. {@code <0x0A>}. */
  public static String bytePiece(int b) {
    return String.format("<0x%02X>", b & 0xFF);
  }

  public int size() {
    return pieces.length;
  }

  public String piece(int id) {
    return pieces[id];
  }

  public float score(int id) {
    return scores[id];
  }

  public PieceType type(int id) {
    return types[id];
  }

  /** The id of {@code piece}, or -1 when the vocabulary lacks it. */
  public int id(String piece) {
    Integer id = ids.get(piece);
    return id == null ? -1 : id;
  }

  /** The id of the byte-fallback piece for byte {@code b}, or -1 when there is none. */
  public int byteId(int b) {
    return byteIds[b & 0xFF];
  }

  /** Whether every one of the 256 byte pieces is present. */
  public boolean hasAllBytePieces() {
    for (int id : byteIds) {
      if (id < 0) {
        return false;
      }
    }
    return true;
  }

  /** The ids of all pieces of type {@code type}, ascending. */
  public List<Integer> idsOfType(PieceType type) {
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < types.length; i++) {
      if (types[i] == type) {
        out.add(i);
      }
    }
    return out;
  }

  /**
   * {@code piece} in double quotes, control characters as {@code \xNN}: for messages and displays.
   */
  public static String quote(String piece) {
    StringBuilder sb = new StringBuilder("\"");
    piece
        .codePoints()
        .forEach(cp -> {
          if (cp < 0x20 || cp == 0x7F) {
            sb.append(String.format("\\x%02X", cp));
          } else {
            sb.appendCodePoint(cp);
          }
        });
    return sb.append('"').toString();
  }
}
