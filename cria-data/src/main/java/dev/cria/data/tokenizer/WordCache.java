package dev.cria.data.tokenizer;

import java.util.concurrent.ConcurrentHashMap;

/**
 * The ids of words already encoded, shared by every thread that encodes with one tokenizer.
 *
 * <p>Natural text is Zipfian: a few hundred thousand distinct words cover nearly all of it, and the
 * frequent ones come early. So the cache simply stops growing at its capacity instead of evicting;
 * the words it holds by then are the ones worth holding.
 */
final class WordCache {
  /** About 30 MB of short words and their ids. */
  static final int DEFAULT_CAPACITY = 1 << 18;

  private final ConcurrentHashMap<String, int[]> map;
  private final int capacity;

  WordCache(int capacity) {
    this.capacity = capacity;
    this.map = new ConcurrentHashMap<>(Math.min(capacity, 1 << 16));
  }

  /** The ids of {@code word}, or null when not cached. */
  int[] get(String word) {
    return map.get(word);
  }

  /** Remembers the ids of {@code word} while there is room. */
  void put(String word, int[] ids) {
    if (map.size() < capacity) {
      map.putIfAbsent(word, ids);
    }
  }
}
