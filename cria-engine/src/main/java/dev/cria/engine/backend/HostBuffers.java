package dev.cria.engine.backend;

import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
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
