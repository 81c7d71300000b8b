package dev.cria.engine.backend;

import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Buffers in this process's memory, from a shared arena (the kernels' worker threads read and write
 * them): what the CPU backends allocate.
 */
public final class HostBuffers implements Buffers {
  private static final AtomicLong LIVE = new AtomicLong();

  private final Arena arena = Arena.ofShared();
  private long bytes;

  @Override
  public synchronized Floats allocate(long floats) {
    if (floats < 0) {
      throw new IllegalArgumentException("a buffer of " + floats + " floats");
    }
    Floats f = Floats.allocate(arena, floats);
    bytes += floats * Float.BYTES;
    LIVE.addAndGet(floats * Float.BYTES);
    return f;
  }

  @Override
  public synchronized MemorySegment allocateBf16(long elements) {
    if (elements < 0) {
      throw new IllegalArgumentException("a buffer of " + elements + " bf16 values");
    }
    MemorySegment segment = arena.allocate(elements * Bf16.BYTES, 64);
    bytes += elements * Bf16.BYTES;
    LIVE.addAndGet(elements * Bf16.BYTES);
    return segment;
  }

  /** Bytes of every host buffer of this process not yet freed (what a rank's status reports). */
  public static long liveBytes() {
    return LIVE.get();
  }

  @Override
  public synchronized void close() {
    arena.close();
    LIVE.addAndGet(-bytes);
    bytes = 0;
  }
}
