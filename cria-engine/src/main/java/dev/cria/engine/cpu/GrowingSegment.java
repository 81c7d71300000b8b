package dev.cria.engine.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Native scratch that grows to the largest size asked of it and is reused until closed: the bf16
 * copies a mixed-precision product makes of its operands. Shared, so the pool's workers can read
 * and write it; its contents are lost when it grows.
 */
final class GrowingSegment implements AutoCloseable {
  private Arena arena;
  private MemorySegment segment = MemorySegment.NULL;

  /** At least {@code bytes}, 64-byte aligned. */
  MemorySegment atLeast(long bytes) {
    if (segment.byteSize() < bytes) {
      close();
      arena = Arena.ofShared();
      segment = arena.allocate(bytes, 64);
    }
    return segment;
  }

  @Override
  public void close() {
    if (arena != null) {
      arena.close();
      arena = null;
      segment = MemorySegment.NULL;
    }
  }
}
