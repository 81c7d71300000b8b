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

  /** Releases its threads; buffers from {@link #buffers()} must be closed first. */
  @Override
  void close();
}
