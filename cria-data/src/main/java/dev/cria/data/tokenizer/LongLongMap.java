package dev.cria.data.tokenizer;

import java.util.Arrays;

/**
 * A growable open-addressing hash map from non-negative {@code long} keys to {@code long} values,
 * for pairs of piece ids (the encoder's merge rules, the trainer's pair index), where a {@code
 * HashMap<Long, ...>} would box every lookup.
 */
final class LongLongMap {
  private static final long EMPTY = -1L;

  private long[] keys;
  private long[] values;
  private int mask;
  private int size;

  LongLongMap(int expected) {
    int capacity = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
    keys = new long[capacity];
    values = new long[capacity];
    mask = capacity - 1;
    Arrays.fill(keys, EMPTY);
  }

  private static int slot(long key, int mask) {
    return (int) ((key * 0x9E3779B97F4A7C15L) >>> 40) & mask;
  }

  /** The value of {@code key} (which must be non-negative), or -1 when absent. */
  long get(long key) {
    int i = slot(key, mask);
    long probe;
    while ((probe = keys[i]) != EMPTY) {
      if (probe == key) {
        return values[i];
      }
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** Maps {@code key} (non-negative, not yet present) to {@code value}. */
  void putNew(long key, long value) {
    if ((size + 1) * 2 > keys.length) {
      grow();
    }
    int i = slot(key, mask);
    while (keys[i] != EMPTY) {
      i = (i + 1) & mask;
    }
    keys[i] = key;
    values[i] = value;
    size++;
  }

  int size() {
    return size;
  }

  private void grow() {
    long[] oldKeys = keys;
    long[] oldValues = values;
    keys = new long[oldKeys.length * 2];
    values = new long[oldKeys.length * 2];
    mask = keys.length - 1;
    Arrays.fill(keys, EMPTY);
    for (int j = 0; j < oldKeys.length; j++) {
      if (oldKeys[j] != EMPTY) {
        int i = slot(oldKeys[j], mask);
        while (keys[i] != EMPTY) {
          i = (i + 1) & mask;
        }
        keys[i] = oldKeys[j];
        values[i] = oldValues[j];
      }
    }
  }
}
