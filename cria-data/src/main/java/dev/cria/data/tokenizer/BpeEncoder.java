package dev.cria.data.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SentencePiece's BPE encoding: split the normalized text into characters, then repeatedly merge
 * the adjacent pair with the best rule (lowest rank, leftmost on ties) until no rule applies;
 * symbols that are not pieces become their UTF-8 bytes ({@code <0xNN>}) or {@code <unk>}.
 *
 * <p>One encoder per thread: it owns the scratch arrays. When the model allows it ({@link
 * BpeModel#splitAtWords}) the text is cut before each word, and each distinct word is encoded once
 * and then served from the {@link WordCache} that all threads of a tokenizer share; the result is
 * the same, since no merge can cross such a cut.
 */
final class BpeEncoder {
  private static final int DEAD = -2;
  private static final int UNKNOWN_SYMBOL = -1;

  private final BpeModel model;
  private final StringBuilder normalized = new StringBuilder();
  private final WordCache cache;
  private final IntList chunkOut = new IntList();

  // Per-symbol state of the chunk being encoded: [symbols]
  private int[] ids = new int[64];
  private int[] prev = new int[64];
  private int[] next = new int[64];
  private int[] start = new int[64];
  private int[] end = new int[64];
  private boolean[] frozen = new boolean[64];
  // Candidate merges as (rank << 32 | left symbol), a binary min-heap.
  private long[] heap = new long[64];
  private int heapSize;
  // Splits of UNUSED pieces produced while encoding, as SentencePiece's rev_merge.
  private Map<String, String[]> reverseMerges;

  BpeEncoder(BpeModel model, WordCache cache) {
    this.model = model;
    this.cache = cache;
  }

  /** Appends the ids of {@code text} (no BOS/EOS) to {@code out}. */
  void encode(CharSequence text, IntList out) {
    int from = out.size();
    encodeNormalized(text, out);
    if (model.fuseUnknowns) {
      out.fuseRuns(from, model.unkId);
    }
  }

  private void encodeNormalized(CharSequence text, IntList out) {
    model.normalizer.normalize(text, normalized);
    int n = normalized.length();
    if (n == 0) {
      return;
    }
    if (!model.splitAtWords) {
      encodeChunk(normalized, 0, n, out);
      return;
    }
    char space = model.spaceChar;
    int chunkStart = 0;
    char previous = normalized.charAt(0);
    for (int i = 1; i < n; i++) {
      char c = normalized.charAt(i);
      if (c == space && previous != space) {
        encodeCached(chunkStart, i, out);
        chunkStart = i;
      }
      previous = c;
    }
    encodeCached(chunkStart, n, out);
  }

  private void encodeCached(int from, int to, IntList out) {
    String word = normalized.substring(from, to);
    int[] cached = cache.get(word);
    if (cached == null) {
      chunkOut.clear();
      encodeChunk(word, 0, word.length(), chunkOut);
      cached = chunkOut.toArray();
      cache.put(word, cached);
    }
    out.addAll(cached);
  }

  private void encodeChunk(CharSequence s, int from, int to, IntList out) {
    int count = splitIntoSymbols(s, from, to);
    heapSize = 0;
    for (int k = 0; k + 1 < count; k++) {
      pushPair(s, k, k + 1);
    }
    while (heapSize > 0) {
      long top = popHeap();
      int rank = (int) (top >>> 32);
      int left = (int) top;
      if (ids[left] == DEAD) {
        continue;
      }
      int right = next[left];
      if (right < 0) {
        continue;
      }
      long rule = ruleFor(s, left, right);
      if (rule < 0 || (int) (rule >>> 32) != rank) {
        continue; // stale: one of the two symbols changed since this pair was queued
      }
      int merged = (int) rule;
      if (model.hasUnusedPieces && model.vocabulary.type(merged) == PieceType.UNUSED) {
        rememberSplit(s, left, right);
      }
      ids[left] = merged;
      end[left] = end[right];
      int after = next[right];
      next[left] = after;
      if (after >= 0) {
        prev[after] = left;
      }
      ids[right] = DEAD;
      if (prev[left] >= 0) {
        pushPair(s, prev[left], left);
      }
      if (after >= 0) {
        pushPair(s, left, after);
      }
    }
    for (int k = 0; k >= 0; k = next[k]) {
      int id = ids[k];
      if (id >= 0 && !(model.hasUnusedPieces && model.vocabulary.type(id) == PieceType.UNUSED)) {
        out.add(id);
      } else {
        emitPiece(s.subSequence(start[k], end[k]).toString(), id, out);
      }
    }
  }

  /** Splits s[from, to) into characters (user-defined pieces whole); returns the symbol count. */
  private int splitIntoSymbols(CharSequence s, int from, int to) {
    ensureCapacity(to - from);
    int count = 0;
    Map<Character, List<String>> userDefined = model.userDefinedByFirstChar;
    for (int i = from; i < to; ) {
      int length = 0;
      int id = UNKNOWN_SYMBOL;
      boolean freeze = false;
      char c = s.charAt(i);
      if (!userDefined.isEmpty()) {
        List<String> candidates = userDefined.get(c);
        if (candidates != null) {
          for (String piece : candidates) {
            if (startsWith(s, i, to, piece)) {
              length = piece.length();
              id = model.vocabulary.id(piece);
              freeze = true;
              break;
            }
          }
        }
      }
      if (!freeze) {
        if (Character.isHighSurrogate(c)
            && i + 1 < to
            && Character.isLowSurrogate(s.charAt(i + 1))) {
          id = model.charId(Character.toCodePoint(c, s.charAt(i + 1)));
          length = 2;
        } else {
          id = model.charId(c);
          length = 1;
        }
      }
      ids[count] = id;
      start[count] = i;
      end[count] = i + length;
      prev[count] = count - 1;
      next[count] = count + 1;
      frozen[count] = freeze;
      count++;
      i += length;
    }
    next[count - 1] = -1;
    return count;
  }

  private static boolean startsWith(CharSequence s, int at, int to, String piece) {
    if (at + piece.length() > to) {
      return false;
    }
    for (int j = 0; j < piece.length(); j++) {
      if (s.charAt(at + j) != piece.charAt(j)) {
        return false;
      }
    }
    return true;
  }

  /** The merge rule for two adjacent symbols: {@code rank << 32 | mergedId}, or -1. */
  private long ruleFor(CharSequence s, int left, int right) {
    if (frozen[left] || frozen[right]) {
      return -1L;
    }
    int a = ids[left];
    int b = ids[right];
    if (a >= 0 && b >= 0) {
      return model.pairs.get(a, b);
    }
    if (!model.mergeByConcatenation) {
      return -1L;
    }
    return model.ruleForConcatenation(s.subSequence(start[left], end[right]).toString());
  }

  private void pushPair(CharSequence s, int left, int right) {
    long rule = ruleFor(s, left, right);
    if (rule < 0) {
      return;
    }
    long entry = (rule & 0xFFFFFFFF00000000L) | left;
    if (heapSize == heap.length) {
      heap = Arrays.copyOf(heap, heap.length * 2);
    }
    int i = heapSize++;
    while (i > 0) {
      int parent = (i - 1) >>> 1;
      if (heap[parent] <= entry) {
        break;
      }
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  private long popHeap() {
    long top = heap[0];
    long last = heap[--heapSize];
    int i = 0;
    int half = heapSize >>> 1;
    while (i < half) {
      int child = 2 * i + 1;
      if (child + 1 < heapSize && heap[child + 1] < heap[child]) {
        child++;
      }
      if (last <= heap[child]) {
        break;
      }
      heap[i] = heap[child];
      i = child;
    }
    if (heapSize > 0) {
      heap[i] = last;
    }
    return top;
  }

  private void rememberSplit(CharSequence s, int left, int right) {
    if (reverseMerges == null) {
      reverseMerges = new HashMap<>();
    }
    reverseMerges.put(
        s.subSequence(start[left], end[right]).toString(),
        new String[] {
          s.subSequence(start[left], end[left]).toString(),
          s.subSequence(start[right], end[right]).toString()
        });
  }

  /**
   * Emits a symbol that is not a plain piece id: an UNUSED piece is split back into the parts it
   * was merged from (recursively); a non-piece becomes byte pieces, or {@code <unk>}.
   */
  private void emitPiece(String text, int id, IntList out) {
    if (id >= 0 && model.vocabulary.type(id) == PieceType.UNUSED && reverseMerges != null) {
      String[] parts = reverseMerges.get(text);
      if (parts != null) {
        emitPiece(parts[0], model.vocabulary.id(parts[0]), out);
        emitPiece(parts[1], model.vocabulary.id(parts[1]), out);
        return;
      }
    }
    if (id >= 0) {
      out.add(id);
      return;
    }
    if (!model.byteFallback) {
      out.add(model.unkId);
      return;
    }
    for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
      int byteId = model.vocabulary.byteId(b);
      out.add(byteId >= 0 ? byteId : model.unkId);
    }
  }

  private void ensureCapacity(int symbols) {
    if (symbols > ids.length) {
      int n = Math.max(symbols, ids.length * 2);
      ids = new int[n];
      prev = new int[n];
      next = new int[n];
      start = new int[n];
      end = new int[n];
      frozen = new boolean[n];
    }
  }
}
