package dev.cria.engine.backend;

/**
 * A backend whose kernels are timed by kind ({@link TimedKernels}), for {@code cria bench
 * --profile}; everything else is the wrapped backend's, which stays the caller's to close.
 */
public final class ProfiledBackend implements Backend {
  private final Backend inner;
  private final TimedKernels timed;

  public ProfiledBackend(Backend inner) {
    this.inner = inner;
    this.timed = new TimedKernels(inner.kernels());
  }

  /** The timings since the last reset. */
  public TimedKernels timings() {
    return timed;
  }

  @Override
  public String name() {
    return inner.name();
  }

  @Override
  public String description() {
    return inner.description();
  }

  @Override
  public int threads() {
    return inner.threads();
  }

  @Override
  public Kernels kernels() {
    return timed;
  }

  @Override
  public Buffers buffers() {
    return inner.buffers();
  }

  @Override
  public double measurePeakGflops(double seconds) {
    return inner.measurePeakGflops(seconds);
  }

  @Override
  public double measureBf16PeakGflops(double seconds) {
    return inner.measureBf16PeakGflops(seconds);
  }

  /** Nothing: the wrapped backend is closed by whoever opened it. */
  @Override
  public String machine() {
    return inner.machine();
  }

  @Override
  public java.util.List<TunedKernel> tune(
      java.util.List<GemmShape> shapes,
      double seconds,
      java.util.function.Consumer<String> progress) {
    return inner.tune(shapes, seconds, progress);
  }

  @Override
  public void useTuned(java.util.List<TunedKernel> tuned) {
    inner.useTuned(tuned);
  }

  @Override
  public void close() {}
}
