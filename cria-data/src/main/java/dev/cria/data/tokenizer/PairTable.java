package dev.cria.data.tokenizer;

import java.util.Arrays;

/**
 * The BPE merge rules as an open-addressing hash table from a pair of piece ids to the merge's
 * priority rank (lower merges first) and the id of the merged piece.
 *
 * <p>Encoding looks a pair up for every candidate merge, so this is a flat {@code long[]} table
 * rather than a {@code HashMap<Long, ...>}.
 */
final class PairTable {
  private static final long EMPTY = -1L;

  private final long[] keys;
  private final long[] values;
  private final int mask;
  private int size;

  PairTable(int expectedPairs) {
    int capacity = Integer.highestOneBit(Math.max(16, expectedPairs * 2 - 1)) << 1;
    keys = new long[capacity];
    values = new long[capacity];
    mask = capacity - 1;
    Arrays.fill(keys, EMPTY);
  }

  private static long key(int left, int right) {
    return ((long) left << 32) | (right & 0xFFFFFFFFL);
  }

  private static int slot(long key, int mask) {
    long h = key * 0x9E3779B97F4A7C15L;
    return (int) (h >>> 40) & mask;
  }

  /** Adds a rule unless the pair already has one: the first (highest priority) rule wins. */
  void putIfAbsent(int left, int right, int rank, int merged) {
    if (size * 2 >= keys.length) {
      throw new IllegalStateException("pair table is full; size it for the number of rules");
    }
    long k = key(left, right);
    int i = slot(k, mask);
    while (keys[i] != EMPTY) {
      if (keys[i] == k) {
        return;
      }
      i = (i + 1) & mask;
    }
    keys[i] = k;
    values[i] = ((long) rank << 32) | (merged & 0xFFFFFFFFL);
    size++;
  }

  /**
   * Looks a pair up: returns {@code rank << 32 | mergedId}, or -1 when the pair has no rule. Both
   * ids must be non-negative.
   */
  long get(int left, int right) {
    long k = key(left, right);
    int i = slot(k, mask);
    long probe;
    while ((probe = keys[i]) != EMPTY) {
      if (probe == k) {
        return values[i];
      }
      i = (i + 1) & mask;
    }
    return -1L;
  }

  int size() {
    return size;
  }
}
