package dev.cria.engine.backend;

import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;

/**
 * Buffers in this process's memory, from a shared arena (the kernels' worker threads read and write
 * them): what the CPU backends allocate.
 */
public final class HostBuffers implements Buffers {
  private final Arena arena = Arena.ofShared();

  @Override
  public Floats allocate(long floats) {
    if (floats < 0) {
      throw new IllegalArgumentException("a buffer of " + floats + " floats");
    }
    return Floats.allocate(arena, floats);
  }

  @Override
  public void close() {
    arena.close();
  }
}
