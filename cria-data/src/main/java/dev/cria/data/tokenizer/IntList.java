package dev.cria.data.tokenizer;

import java.util.Arrays;

/** A growable list of {@code int}s (token ids), reused across calls to avoid garbage. */
public final class IntList {
  private int[] values;
  private int size;

  public IntList() {
    this(64);
  }

  public IntList(int capacity) {
    values = new int[Math.max(1, capacity)];
  }

  public void add(int value) {
    if (size == values.length) {
      values = Arrays.copyOf(values, values.length * 2);
    }
    values[size++] = value;
  }

  public void addAll(int[] source) {
    addAll(source, 0, source.length);
  }

  public void addAll(int[] source, int from, int count) {
    ensureCapacity(size + count);
    System.arraycopy(source, from, values, size, count);
    size += count;
  }

  public int get(int index) {
    if (index >= size) {
      throw new IndexOutOfBoundsException(index + " >= " + size);
    }
    return values[index];
  }

  public int size() {
    return size;
  }

  public boolean isEmpty() {
    return size == 0;
  }

  public void clear() {
    size = 0;
  }

  /** Replaces each run of {@code value} at index {@code from} or later with one {@code value}. */
  public void fuseRuns(int from, int value) {
    int kept = from;
    for (int i = from; i < size; i++) {
      if (values[i] != value || kept == from || values[kept - 1] != value) {
        values[kept++] = values[i];
      }
    }
    size = kept;
  }

  /** The backing array; valid up to {@link #size()} until the next mutation. */
  public int[] rawArray() {
    return values;
  }

  public int[] toArray() {
    return Arrays.copyOf(values, size);
  }

  private void ensureCapacity(int capacity) {
    if (capacity > values.length) {
      values = Arrays.copyOf(values, Math.max(capacity, values.length * 2));
    }
  }

  @Override
  public String toString() {
    return Arrays.toString(toArray());
  }
}
