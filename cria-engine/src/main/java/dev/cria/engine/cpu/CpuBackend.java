package dev.cria.engine.cpu;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.BackendProvider;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.backend.HostBuffers;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.backend.TunedKernel;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

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
  public double measureBf16PeakGflops(double seconds) {
    return kernels.bf16Product().measurePeakGflops(seconds);
  }

  @Override
  public String machine() {
    return CpuMachine.describe(parallel.threads());
  }

  /** Times {@link Gemm}'s blockings per shape ({@link GemmTuner}); all compute the same bits. */
  @Override
  public List<TunedKernel> tune(List<GemmShape> shapes, double seconds, Consumer<String> progress) {
    return GemmTuner.tune(parallel, shapes, seconds, progress);
  }

  @Override
  public void useTuned(List<TunedKernel> tuned) {
    Map<GemmShape, Gemm.Blocking> blockings = new HashMap<>();
    for (TunedKernel t : tuned) {
      Gemm.Blocking b = Gemm.Blocking.parse(t.choice(), parallel.threads());
      if (blockings.put(t.shape(), b) != null) {
        throw new IllegalArgumentException("two choices for " + t.shape());
      }
    }
    kernels.useBlockings(blockings);
  }

  @Override
  public void close() {
    kernels.close();
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
