package dev.cria.engine.cpu;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.BackendProvider;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.backend.HostBuffers;
import dev.cria.engine.backend.Kernels;

/**
 * The CPU backend: {@link CpuKernels} on a {@link Parallel} pool of worker threads, buffers in
 * process memory, and the FMA peak of those threads ({@link FmaPeak}).
 */
public final class CpuBackend implements Backend {
  private final Parallel parallel;
  private final CpuKernels kernels;

  private CpuBackend(int threads) {
    this.parallel = Parallel.create(threads);
    this.kernels = new CpuKernels(parallel);
  }

  /** The CPU backend on {@code threads} threads. */
  public static CpuBackend open(int threads) {
    return new CpuBackend(threads);
  }

  @Override
  public String name() {
    return "cpu";
  }

  @Override
  public String description() {
    return kernels.name();
  }

  @Override
  public int threads() {
    return parallel.threads();
  }

  @Override
  public Kernels kernels() {
    return kernels;
  }

  @Override
  public Buffers buffers() {
    return new HostBuffers();
  }

  @Override
  public double measurePeakGflops(double seconds) {
    return FmaPeak.measureGflops(parallel, seconds);
  }

  @Override
  public void close() {
    parallel.close();
  }

  /**
   * Registered in {@code META-INF/services}: always available, preferred over {@code reference}.
   */
  public static final class Provider implements BackendProvider {
    @Override
    public String name() {
      return "cpu";
    }

    @Override
    public int priority() {
      return 100;
    }

    @Override
    public boolean available() {
      return true;
    }

    @Override
    public Backend open(int threads) {
      return CpuBackend.open(threads);
    }
  }
}
