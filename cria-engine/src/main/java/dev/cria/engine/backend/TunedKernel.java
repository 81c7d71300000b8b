package dev.cria.engine.backend;

/**
 * The kernel a backend chose for one shape after timing its candidates on this machine.
 *
 * @param shape the product it is for
 * @param choice the backend's own words for the choice, which its {@link Backend#useTuned} reads
 *     back (the CPU backend's: {@code mr=12 mc=132 nc=1024 grid=2x1})
 * @param defaultGflops what the backend's default reached on this shape
 * @param tunedGflops what the choice reached, in the same run
 */
public record TunedKernel(
    GemmShape shape, String choice, double defaultGflops, double tunedGflops) {
  public TunedKernel {
    if (shape == null || choice == null || choice.isBlank()) {
      throw new IllegalArgumentException("a tuned kernel needs a shape and a choice");
    }
    if (!(defaultGflops > 0) || !(tunedGflops > 0)) {
      throw new IllegalArgumentException(
          "GFLOP/s must be positive: " + defaultGflops + ", " + tunedGflops);
    }
  }

  /** How much faster than the default: tuned over default GFLOP/s. */
  public double gain() {
    return tunedGflops / defaultGflops;
  }
}
