package dev.cria.bench;

import dev.cria.engine.cpu.FmaPeak;
import dev.cria.engine.cpu.Parallel;

/**
 * Prints the FMA peak ({@link FmaPeak#measureGflops}) for 1 .. N threads, N = the number of
 * processors or the first argument:
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp cria-bench/target/benchmarks.jar dev.cria.bench.FmaPeakMain [threads] [seconds]
 * </pre>
 */
public final class FmaPeakMain {
  private FmaPeakMain() {}

  public static void main(String[] args) {
    int max =
        args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
    double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 1.0;
    for (int threads = 1; threads <= max; threads++) {
      try (Parallel p = Parallel.create(threads)) {
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
          best = Math.max(best, FmaPeak.measureGflops(p, seconds));
        }
        System.out.printf(
            "FMA peak, %d thread(s): %.1f GFLOP/s (best of 3 x %.1f s)%n", threads, best, seconds);
      }
    }
  }
}
