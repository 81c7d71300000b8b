package dev.cria.engine.reference;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.BackendProvider;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.backend.HostBuffers;
import dev.cria.engine.backend.Kernels;

/**
 * The reference backend: {@link ReferenceKernels}, plain loops on one thread, straight from the
 * math. Slow on purpose; what the fast backends are checked against, and a way to run any model
 * when a result is in doubt ({@code --backend reference}).
 */
public final class ReferenceBackend implements Backend {
  private final ReferenceKernels kernels = new ReferenceKernels();

  @Override
  public String name() {
    return "reference";
  }

  @Override
  public String description() {
    return "reference(1 thread, plain loops)";
  }

  @Override
  public int threads() {
    return 1;
  }

  @Override
  public Kernels kernels() {
    return kernels;
  }

  @Override
  public Buffers buffers() {
    return new HostBuffers();
  }

  /** The FLOP/s of a plain scalar fused multiply-add loop on this thread. */
  @Override
  public double measurePeakGflops(double seconds) {
    float a = 1.0001f;
    float b = 0.9999f;
    float c0 = 0;
    float c1 = 0;
    float c2 = 0;
    float c3 = 0;
    long iterations = 0;
    long t0 = System.nanoTime();
    long deadline = t0 + (long) (Math.max(0.01, seconds) * 1e9);
    while (System.nanoTime() < deadline) {
      for (int i = 0; i < 1 << 16; i++) {
        c0 = Math.fma(a, b, c0);
        c1 = Math.fma(a, b, c1);
        c2 = Math.fma(a, b, c2);
        c3 = Math.fma(a, b, c3);
      }
      iterations += 1 << 16;
    }
    double elapsed = (System.nanoTime() - t0) / 1e9;
    if (c0 + c1 + c2 + c3 == 42) { // keeps the loop from being removed
      iterations++;
    }
    return 4 * 2 * iterations / elapsed / 1e9;
  }

  @Override
  public void close() {}

  /** Registered in {@code META-INF/services}: always available, never preferred. */
  public static final class Provider implements BackendProvider {
    @Override
    public String name() {
      return "reference";
    }

    @Override
    public int priority() {
      return 0;
    }

    @Override
    public boolean available() {
      return true;
    }

    @Override
    public Backend open(int threads) {
      return new ReferenceBackend();
    }
  }
}
