package dev.cria.data.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * The BPE trainer's merge loop, incremental as in SentencePiece and Hugging Face: pair counts are
 * kept up to date, each pair remembers the words it occurs in, and a merge touches only those words
 * and only the pairs next to each occurrence.
 *
 * <p>Symbols are ints: the characters first (ids {@code 0..}), then each merge result. A word is a
 * sequence of symbols with a count; -1 in a word is a barrier (a character that is not a piece)
 * that no pair spans. Pair frequency is the sum, over words, of count times occurrences (every
 * adjacent position, overlapping ones included, as SentencePiece counts them).
 *
 * <p>The best pair is the most frequent; ties go to the smaller merged string (UTF-16 order), then
 * the smaller left string, so the result depends only on the word counts. A pair is skipped when
 * the merge would make an invalid piece ({@link PieceRules}) or a piece that already exists (e.g.
 * "aaa" from "a"+"aa" after "aa"+"a"; SentencePiece skips those too). The queue is lazy: an entry
 * holds the count its pair had when queued, which can only have dropped since (pairs gain
 * occurrences only in the merge that creates them), and a stale entry is requeued when it surfaces.
 */
final class BpeMergeLoop {
  private static final byte LIVE = 0;
  private static final byte INVALID = 1;
  private static final byte DONE = 2;

  private final int maxPieceLength;

  // Symbols: text and PieceRules summary, by id.
  private String[] symbolText = new String[256];
  private int[] symbolRules = new int[256];
  private int symbolCount;

  /**
   * Every string that is already a piece (also the reserved ones) and so must not be made again.
   */
  private final Set<String> pieces = new HashSet<>();

  // Words.
  private int[][] words = new int[1024][];
  private int[] wordLength = new int[1024];
  private long[] wordCount = new long[1024];
  private int wordTotal;

  // Pairs, by id; pairIds maps (left << 32 | right) to the id.
  private final LongLongMap pairIds = new LongLongMap(1 << 16);
  private int[] pairLeft = new int[1024];
  private int[] pairRight = new int[1024];
  private long[] pairCount = new long[1024];
  private byte[] pairState = new byte[1024];
  private int[][] pairWords = new int[1024][];
  private int[] pairWordCount = new int[1024];
  private int pairTotal;

  // Max-heap of (count when queued, pair id).
  private long[] heapCount = new long[1024];
  private int[] heapPair = new int[1024];
  private int heapSize;

  BpeMergeLoop(int maxPieceLength, Iterable<String> reservedPieces) {
    this.maxPieceLength = maxPieceLength;
    reservedPieces.forEach(pieces::add);
  }

  /** Adds a character symbol; returns its id. Call for all characters before adding words. */
  int addCharacter(int codePoint, boolean splitDigits) {
    String text = Character.toString(codePoint);
    pieces.add(text);
    return addSymbol(text, PieceRules.ofChar(codePoint, splitDigits));
  }

  /**
   * Adds a word: {@code symbols} (character ids or -1 for barriers, taken over) {@code count}
   * times.
   */
  void addWord(int[] symbols, long count) {
    if (wordTotal == words.length) {
      int n = wordTotal * 2;
      words = Arrays.copyOf(words, n);
      wordLength = Arrays.copyOf(wordLength, n);
      wordCount = Arrays.copyOf(wordCount, n);
    }
    int w = wordTotal++;
    words[w] = symbols;
    wordLength[w] = symbols.length;
    wordCount[w] = count;
    for (int i = 0; i + 1 < symbols.length; i++) {
      int pair = pairOf(symbols[i], symbols[i + 1]);
      if (pair >= 0) {
        pairCount[pair] += count;
        addWordToPair(pair, w);
      }
    }
  }

  /**
   * Runs up to {@code maxMerges} merges and returns the merged pieces in merge order; fewer when no
   * valid pair is left.
   */
  List<String> run(int maxMerges, BiConsumer<Integer, Integer> progress) {
    for (int p = 0; p < pairTotal; p++) {
      if (pairState[p] == LIVE && pairCount[p] > 0) {
        push(p, pairCount[p]);
      }
    }
    List<String> merged = new ArrayList<>(Math.max(0, maxMerges));
    int reportEvery = Math.max(1, (maxMerges + 99) / 100);
    IntList newPairs = new IntList();
    if (progress != null) {
      progress.accept(0, maxMerges);
    }
    while (merged.size() < maxMerges) {
      int best = popBest();
      if (best < 0) {
        break;
      }
      int left = pairLeft[best];
      int right = pairRight[best];
      String text = symbolText[left] + symbolText[right];
      pairState[best] = DONE;
      if (!pieces.add(text)) {
        continue; // made before, from other parts
      }
      int rules = PieceRules.merge(symbolRules[left], symbolRules[right], maxPieceLength);
      int symbol = addSymbol(text, rules);
      merged.add(text);
      newPairs.clear();
      int[] containing = pairWords[best];
      for (int k = 0, n = pairWordCount[best]; k < n; k++) {
        mergeInWord(containing[k], left, right, symbol, newPairs);
      }
      pairWords[best] = null;
      for (int k = 0; k < newPairs.size(); k++) {
        int p = newPairs.get(k);
        if (pairCount[p] > 0) {
          push(p, pairCount[p]);
        }
      }
      if (progress != null && merged.size() % reportEvery == 0) {
        progress.accept(merged.size(), maxMerges);
      }
    }
    if (progress != null && merged.size() % reportEvery != 0) {
      progress.accept(merged.size(), maxMerges);
    }
    return merged;
  }

  /**
   * Replaces each (left, right) in word {@code w} by {@code symbol}, updating the neighbours'
   * pairs.
   */
  private void mergeInWord(int w, int left, int right, int symbol, IntList newPairs) {
    int[] s = words[w];
    int n = wordLength[w];
    long count = wordCount[w];
    int out = 0;
    int i = 0;
    boolean changed = false;
    while (i < n) {
      if (i + 1 < n && s[i] == left && s[i + 1] == right) {
        changed = true;
        int before = out > 0 ? s[out - 1] : -1;
        int after = i + 2 < n ? s[i + 2] : -1;
        if (before >= 0) {
          decrement(before, left, count);
          increment(before, symbol, count, w, newPairs);
        }
        if (after >= 0) {
          decrement(right, after, count);
          increment(symbol, after, count, w, newPairs);
        }
        s[out++] = symbol;
        i += 2;
      } else {
        s[out++] = s[i++];
      }
    }
    if (changed) {
      wordLength[w] = out;
    }
  }

  private void decrement(int left, int right, long count) {
    int pair = (int) pairIds.get(key(left, right));
    if (pair >= 0 && pairState[pair] == LIVE) {
      pairCount[pair] -= count;
    }
  }

  private void increment(int left, int right, long count, int w, IntList newPairs) {
    int pair = pairOf(left, right);
    if (pair < 0) {
      return;
    }
    if (pairCount[pair] == 0 && pairWordCount[pair] == 0) {
      newPairs.add(pair);
    }
    pairCount[pair] += count;
    addWordToPair(pair, w);
  }

  /** The id of the live pair (left, right), created on first sight; -1 when it may not merge. */
  private int pairOf(int left, int right) {
    if (left < 0 || right < 0) {
      return -1;
    }
    long key = key(left, right);
    int pair = (int) pairIds.get(key);
    if (pair < 0) {
      pair = newPair(left, right, key);
    }
    return pairState[pair] == LIVE ? pair : -1;
  }

  private int newPair(int left, int right, long key) {
    if (pairTotal == pairLeft.length) {
      int n = pairTotal * 2;
      pairLeft = Arrays.copyOf(pairLeft, n);
      pairRight = Arrays.copyOf(pairRight, n);
      pairCount = Arrays.copyOf(pairCount, n);
      pairState = Arrays.copyOf(pairState, n);
      pairWords = Arrays.copyOf(pairWords, n);
      pairWordCount = Arrays.copyOf(pairWordCount, n);
    }
    int pair = pairTotal++;
    pairLeft[pair] = left;
    pairRight[pair] = right;
    boolean valid = PieceRules.merge(symbolRules[left], symbolRules[right], maxPieceLength) >= 0;
    pairState[pair] = valid ? LIVE : INVALID;
    pairIds.putNew(key, pair);
    return pair;
  }

  /**
   * Notes that word {@code w} holds {@code pair}; a word is added once, as words are done one by
   * one.
   */
  private void addWordToPair(int pair, int w) {
    int n = pairWordCount[pair];
    int[] list = pairWords[pair];
    if (n > 0 && list[n - 1] == w) {
      return;
    }
    if (list == null) {
      list = pairWords[pair] = new int[4];
    } else if (n == list.length) {
      list = pairWords[pair] = Arrays.copyOf(list, n * 2);
    }
    list[n] = w;
    pairWordCount[pair] = n + 1;
  }

  private int addSymbol(String text, int rules) {
    if (symbolCount == symbolText.length) {
      symbolText = Arrays.copyOf(symbolText, symbolCount * 2);
      symbolRules = Arrays.copyOf(symbolRules, symbolCount * 2);
    }
    symbolText[symbolCount] = text;
    symbolRules[symbolCount] = rules;
    return symbolCount++;
  }

  private static long key(int left, int right) {
    return ((long) left << 32) | right;
  }

  // ---- the queue ----

  /** The best live pair whose queued count is current, or -1; requeues stale entries on the way. */
  private int popBest() {
    while (heapSize > 0) {
      int pair = heapPair[0];
      long queued = heapCount[0];
      removeTop();
      if (pairState[pair] != LIVE) {
        continue;
      }
      long current = pairCount[pair];
      if (current != queued) {
        if (current > 0) {
          push(pair, current);
        }
        continue;
      }
      return pair;
    }
    return -1;
  }

  private void push(int pair, long count) {
    if (heapSize == heapPair.length) {
      heapPair = Arrays.copyOf(heapPair, heapSize * 2);
      heapCount = Arrays.copyOf(heapCount, heapSize * 2);
    }
    int i = heapSize++;
    while (i > 0) {
      int parent = (i - 1) >>> 1;
      if (!before(count, pair, heapCount[parent], heapPair[parent])) {
        break;
      }
      heapPair[i] = heapPair[parent];
      heapCount[i] = heapCount[parent];
      i = parent;
    }
    heapPair[i] = pair;
    heapCount[i] = count;
  }

  private void removeTop() {
    int last = --heapSize;
    if (last == 0) {
      return;
    }
    int pair = heapPair[last];
    long count = heapCount[last];
    int i = 0;
    while (true) {
      int child = 2 * i + 1;
      if (child >= last) {
        break;
      }
      if (child + 1 < last
          && before(heapCount[child + 1], heapPair[child + 1], heapCount[child], heapPair[child])) {
        child++;
      }
      if (!before(heapCount[child], heapPair[child], count, pair)) {
        break;
      }
      heapPair[i] = heapPair[child];
      heapCount[i] = heapCount[child];
      i = child;
    }
    heapPair[i] = pair;
    heapCount[i] = count;
  }

  /** Whether entry (countA, a) comes out of the queue before (countB, b). */
  private boolean before(long countA, int a, long countB, int b) {
    if (countA != countB) {
      return countA > countB;
    }
    if (a == b) {
      return false;
    }
    int c = compareMerged(a, b);
    if (c == 0) {
      c = symbolText[pairLeft[a]].compareTo(symbolText[pairLeft[b]]);
    }
    return c < 0;
  }

  /** Compares the concatenations of pairs a and b without building them. */
  private int compareMerged(int a, int b) {
    String a1 = symbolText[pairLeft[a]];
    String a2 = symbolText[pairRight[a]];
    String b1 = symbolText[pairLeft[b]];
    String b2 = symbolText[pairRight[b]];
    int na = a1.length() + a2.length();
    int nb = b1.length() + b2.length();
    int n = Math.min(na, nb);
    for (int i = 0; i < n; i++) {
      char ca = i < a1.length() ? a1.charAt(i) : a2.charAt(i - a1.length());
      char cb = i < b1.length() ? b1.charAt(i) : b2.charAt(i - b1.length());
      if (ca != cb) {
        return ca - cb;
      }
    }
    return na - nb;
  }
}
