package dev.cria.data.tokenizer;

/**
 * The BPE merge rules: a pair of piece ids maps to the merge's priority rank (lower merges first)
 * and the id of the merged piece. Encoding looks a pair up for every candidate merge.
 */
final class PairTable {
  private final LongLongMap rules;

  PairTable(int expectedPairs) {
    rules = new LongLongMap(expectedPairs);
  }

  private static long key(int left, int right) {
    return ((long) left << 32) | (right & 0xFFFFFFFFL);
  }

  /** Adds a rule unless the pair already has one: the first (highest priority) rule wins. */
  void putIfAbsent(int left, int right, int rank, int merged) {
    long k = key(left, right);
    if (rules.get(k) < 0) {
      rules.putNew(k, ((long) rank << 32) | (merged & 0xFFFFFFFFL));
    }
  }

  /**
   * Looks a pair up: returns {@code rank << 32 | mergedId}, or -1 when the pair has no rule. Both
   * ids must be non-negative.
   */
  long get(int left, int right) {
    return rules.get(key(left, right));
  }

  int size() {
    return rules.size();
  }
}
