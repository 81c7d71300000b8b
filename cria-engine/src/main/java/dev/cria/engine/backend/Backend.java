package dev.cria.engine.backend;

/**
 * What the engine runs on: it owns memory ({@link #buffers()}), every kernel the model, AdamW,
 * clipping and the decoder need ({@link #kernels()}), its parallelism and its measured peak. The
 * training loop, evaluation, generation and the benchmark ask {@link Backends} for one by name and
 * never build kernels, thread pools or peak probes themselves.
 *
 * <p>Implementations are found with {@link java.util.ServiceLoader} through a {@link
 * BackendProvider}: {@code cpu} (the Vector API on all cores) and {@code reference} (plain loops,
 * one thread). A new backend is a new module with one service entry.
 */
public interface Backend extends AutoCloseable {
  /** The name it is chosen by: {@code cpu}, {@code reference}. */
  String name();

  /** A line for logs: the name and how it runs ({@code cpu(2 threads, 512-bit vectors)}). */
  String description();

  /** Threads its kernels use. */
  int threads();

  /** Its kernels; valid until {@link #close()}. */
  Kernels kernels();

  /** A new set of buffers on this backend, freed when the set is closed. */
  Buffers buffers();

  /**
   * Its peak FLOP/s in billions, measured now over about {@code seconds} (an FMA loop on every
   * thread for the CPU): what MFU is relative to.
   */
  double measurePeakGflops(double seconds);

  /**
   * The best rate of its bf16 product (the one mixed precision's linear layers run on) in billions
   * of FLOP/s, measured now over about {@code seconds}: what a bf16-mixed run's MFU is relative to.
   * NaN when it has no bf16 product of its own (the reference's plain loops).
   */
  default double measureBf16PeakGflops(double seconds) {
    return Double.NaN;
  }

  /**
   * This machine as far as tuned kernels depend on it (for the CPU: the processor model, its
   * instruction set features, the cores, the vector width and this backend's threads): two backends
   * with the same text can share tuned choices. Keys the compile cache.
   */
  default String machine() {
    return description();
  }

  /**
   * Times candidate kernels for each of {@code shapes} on this machine, about {@code seconds} per
   * candidate, and returns the best per shape (the default when nothing beats it clearly). Tuning
   * changes speed only: every candidate computes the same bits. Empty when this backend has nothing
   * to tune.
   *
   * @param progress receives a line per shape tuned
   */
  default java.util.List<TunedKernel> tune(
      java.util.List<GemmShape> shapes,
      double seconds,
      java.util.function.Consumer<String> progress) {
    return java.util.List.of();
  }

  /**
   * Runs {@code tuned} choices from now on for their shapes (others keep the defaults).
   *
   * @throws IllegalArgumentException for a choice this backend does not understand (from another
   *     backend or version); nothing is changed then
   */
  default void useTuned(java.util.List<TunedKernel> tuned) {
    if (!tuned.isEmpty()) {
      throw new IllegalArgumentException(name() + " has no tunable kernels");
    }
  }

  /** Releases its threads; buffers from {@link #buffers()} must be closed first. */
  @Override
  void close();
}
