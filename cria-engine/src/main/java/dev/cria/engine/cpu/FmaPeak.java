package dev.cria.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Measures the machine's single-precision FMA peak as this JVM reaches it through the Vector API:
 * the denominator of model FLOPs utilization (MFU).
 *
 * <p>Every participant of a {@link Parallel} pool runs, at the same time, a loop of fused
 * multiply-adds on 12 independent {@link FloatVector#SPECIES_PREFERRED} accumulators, with no
 * memory traffic: 12 chains are more than (FMA latency x FMA pipes) on current x86 and ARM cores,
 * so the loop is bound by FMA throughput alone. The accumulators are reduced and written to a
 * volatile field after every chunk, so the JIT cannot drop the work; they converge to a fixed point
 * ({@code acc * x + y}, {@code x < 1}), so no denormals or infinities slow it down.
 */
public final class FmaPeak {

  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  /** FMA iterations per timed call: about 0.1 ms on a 512-bit core. */
  private static final int CHUNK = 1 << 16;

  /** Independent accumulators in {@link #burn}. */
  private static final int CHAINS = 12;

  @SuppressWarnings("unused")
  private static volatile float sink;

  private FmaPeak() {}

  /** Floating-point operations per {@link #burn} iteration: CHAINS FMAs of 2 flops per lane. */
  static long flopsPerIteration() {
    return 2L * CHAINS * S.length();
  }

  /** Windows the measurement is split into; the best one counts. */
  private static final int WINDOWS = 5;

  /**
   * Runs the FMA loop on all {@code p.threads()} participants for about {@code seconds} (after a
   * short single-threaded warm-up that gets the loop JIT-compiled) and returns the total rate in
   * GFLOP/s, counting 2 flops per lane per FMA. The time is split into {@value #WINDOWS} windows
   * and the fastest one is reported: on a shared machine another process can take a core for part
   * of the time, and the peak is what the cores do when they are not taken.
   */
  public static double measureGflops(Parallel p, double seconds) {
    if (!(seconds > 0) || Double.isInfinite(seconds)) {
      throw new IllegalArgumentException("seconds must be positive: " + seconds);
    }
    warmUp();
    double best = 0;
    for (int window = 0; window < WINDOWS; window++) {
      best = Math.max(best, measureWindow(p, seconds / WINDOWS));
    }
    return best;
  }

  private static double measureWindow(Parallel p, double seconds) {
    int threads = p.threads();
    long[] iterations = new long[threads];
    long start = System.nanoTime();
    long deadline = start + (long) (seconds * 1e9);
    p.forRange(
        0,
        threads,
        (from, to, worker) -> {
          float seed = 1f + worker;
          long done = 0;
          do {
            sink = burn(CHUNK, seed);
            done += CHUNK;
          } while (System.nanoTime() < deadline);
          iterations[worker] += done;
        });
    long elapsed = System.nanoTime() - start;
    long total = 0;
    for (long it : iterations) {
      total += it;
    }
    return (double) total * flopsPerIteration() / elapsed;
  }

  /**
   * Calls {@link #burn} in small pieces until C2 has compiled it: interpreted (or C1-compiled)
   * Vector API code is hundreds of times slower than C2's, so one long call would spend its whole
   * time there. Runs batches of 1000 short calls until a batch is no faster than the one before
   * (within 5%) and at least 20 batches ran (about 10 ms once compiled), or for at most 3 s.
   */
  private static void warmUp() {
    long limit = System.nanoTime() + 3_000_000_000L;
    long previous = Long.MAX_VALUE;
    for (int batch = 0; System.nanoTime() < limit; batch++) {
      long t = System.nanoTime();
      float acc = 0f;
      for (int call = 0; call < 1000; call++) {
        acc += burn(256, call);
      }
      sink = acc;
      long dt = System.nanoTime() - t;
      if (batch >= 20 && dt * 20 >= previous * 19) {
        return;
      }
      previous = Math.min(previous, dt);
    }
  }

  /** {@code iterations} rounds of 12 independent vector FMAs; returns a reduction of the result. */
  static float burn(long iterations, float seed) {
    FloatVector x = FloatVector.broadcast(S, 0.999_999f - seed * 1e-9f);
    FloatVector y = FloatVector.broadcast(S, 1e-7f);
    FloatVector a0 = FloatVector.broadcast(S, seed);
    FloatVector a1 = a0.add(1f);
    FloatVector a2 = a0.add(2f);
    FloatVector a3 = a0.add(3f);
    FloatVector a4 = a0.add(4f);
    FloatVector a5 = a0.add(5f);
    FloatVector a6 = a0.add(6f);
    FloatVector a7 = a0.add(7f);
    FloatVector a8 = a0.add(8f);
    FloatVector a9 = a0.add(9f);
    FloatVector a10 = a0.add(10f);
    FloatVector a11 = a0.add(11f);
    for (long i = 0; i < iterations; i++) {
      a0 = a0.fma(x, y);
      a1 = a1.fma(x, y);
      a2 = a2.fma(x, y);
      a3 = a3.fma(x, y);
      a4 = a4.fma(x, y);
      a5 = a5.fma(x, y);
      a6 = a6.fma(x, y);
      a7 = a7.fma(x, y);
      a8 = a8.fma(x, y);
      a9 = a9.fma(x, y);
      a10 = a10.fma(x, y);
      a11 = a11.fma(x, y);
    }
    return a0.add(a1)
        .add(a2)
        .add(a3)
        .add(a4)
        .add(a5)
        .add(a6)
        .add(a7)
        .add(a8)
        .add(a9)
        .add(a10)
        .add(a11)
        .reduceLanes(VectorOperators.ADD);
  }
}
