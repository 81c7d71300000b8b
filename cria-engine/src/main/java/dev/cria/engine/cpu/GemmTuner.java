package dev.cria.engine.cpu;

import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.backend.TunedKernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Chooses {@link Gemm}'s blocking per shape by timing it on this machine: the thread grid, the
 * microkernel ({@code mr}), the A block ({@code mc}) and the B panel ({@code nc}), one at a time
 * from the default (a coordinate search: a handful of timings per shape instead of every
 * combination), then the default and the best against each other, alternately, so that a choice is
 * kept only when it is faster by {@link #MARGIN} in the same minutes. {@code kc} is never varied:
 * it decides where a dot product is split, so every candidate computes the same bits.
 */
final class GemmTuner {
  /** A choice must beat the default by this factor in the final, alternating timing. */
  static final double MARGIN = 1.02;

  /** Default-versus-best rounds at the end. */
  private static final int ROUNDS = 3;

  private GemmTuner() {}

  /** The best blocking per shape on {@code pool}'s threads; see the class comment. */
  static List<TunedKernel> tune(
      Parallel pool, List<GemmShape> shapes, double seconds, Consumer<String> progress) {
    if (!(seconds > 0)) {
      throw new IllegalArgumentException("seconds per candidate must be positive: " + seconds);
    }
    List<TunedKernel> tuned = new ArrayList<>();
    for (GemmShape shape : shapes) {
      try (Arena arena = Arena.ofShared()) {
        Operands ops = new Operands(arena, shape);
        TunedKernel t = tuneOne(pool, ops, seconds);
        tuned.add(t);
        progress.accept(
            t.choice().equals(Gemm.DEFAULT.describe(pool.threads()))
                ? String.format(
                    Locale.ROOT,
                    "%-22s %6.1f GFLOP/s, the default kept (%s)",
                    shape,
                    t.defaultGflops(),
                    t.choice())
                : String.format(
                    Locale.ROOT,
                    "%-22s %6.1f -> %6.1f GFLOP/s (%.3fx): %s",
                    shape,
                    t.defaultGflops(),
                    t.tunedGflops(),
                    t.gain(),
                    t.choice()));
      }
    }
    return tuned;
  }

  private static TunedKernel tuneOne(Parallel pool, Operands ops, double seconds) {
    int threads = pool.threads();
    Gemm.Blocking best = Gemm.DEFAULT;
    double bestTime = ops.time(pool, best, seconds);
    for (int axis = 0; axis < 4; axis++) {
      List<Gemm.Blocking> candidates =
          switch (axis) {
            case 0 -> grids(best, threads);
            case 1 -> microkernels(best);
            case 2 -> aBlocks(best);
            default -> bPanels(best);
          };
      for (Gemm.Blocking c : candidates) {
        if (c.equals(best)) {
          continue;
        }
        double t = ops.time(pool, c, seconds);
        if (t < bestTime) {
          best = c;
          bestTime = t;
        }
      }
    }
    // the default and the best again, alternately, so that both see the same machine
    double defaultTotal = 0;
    double bestTotal = 0;
    for (int round = 0; round < ROUNDS; round++) {
      defaultTotal += ops.time(pool, Gemm.DEFAULT, seconds);
      bestTotal += best.equals(Gemm.DEFAULT) ? 0 : ops.time(pool, best, seconds);
    }
    if (best.equals(Gemm.DEFAULT) || defaultTotal < MARGIN * bestTotal) {
      best = Gemm.DEFAULT;
      bestTotal = defaultTotal;
    }
    double flops = ops.shape.flops();
    return new TunedKernel(
        ops.shape,
        best.describe(threads),
        flops * ROUNDS / defaultTotal / 1e9,
        flops * ROUNDS / bestTotal / 1e9);
  }

  /** The thread grids for {@code threads}: chosen per block, or every divisor as the rows. */
  static List<Gemm.Blocking> grids(Gemm.Blocking b, int threads) {
    List<Gemm.Blocking> out = new ArrayList<>();
    out.add(b.withGridRows(0));
    if (threads > 1) {
      for (int rows = 1; rows <= threads; rows++) {
        if (threads % rows == 0) {
          out.add(b.withGridRows(rows));
        }
      }
    }
    return out;
  }

  /** Both microkernels where the registers allow the wide one; {@code mc} kept a multiple. */
  static List<Gemm.Blocking> microkernels(Gemm.Blocking b) {
    List<Gemm.Blocking> out = new ArrayList<>();
    for (int mr : Gemm.L >= 16 ? new int[] {12, 6} : new int[] {6}) {
      out.add(new Gemm.Blocking(mr, b.kc(), roundDown(b.mc(), mr), b.nc(), b.gridRows()));
    }
    return out;
  }

  /** A blocks of about a eighth, a quarter and half of a 1 MiB L2. */
  static List<Gemm.Blocking> aBlocks(Gemm.Blocking b) {
    List<Gemm.Blocking> out = new ArrayList<>();
    for (int mc : new int[] {72, 132, 264}) {
      out.add(new Gemm.Blocking(b.mr(), b.kc(), roundDown(mc, b.mr()), b.nc(), b.gridRows()));
    }
    return out;
  }

  /** Shared B panels of 1, 2 and 4 MiB at {@code kc = 512}. */
  static List<Gemm.Blocking> bPanels(Gemm.Blocking b) {
    List<Gemm.Blocking> out = new ArrayList<>();
    for (int nc : new int[] {512, 1024, 2048}) {
      out.add(new Gemm.Blocking(b.mr(), b.kc(), b.mc(), nc, b.gridRows()));
    }
    return out;
  }

  private static int roundDown(int value, int multiple) {
    return Math.max(multiple, value / multiple * multiple);
  }

  /** Random operands of one shape, in memory every pool thread may read. */
  private static final class Operands {
    final GemmShape shape;
    final MemorySegment a;
    final MemorySegment b;
    final MemorySegment c;

    Operands(Arena arena, GemmShape shape) {
      this.shape = shape;
      this.a = random(arena, (long) shape.m() * shape.k(), 1);
      this.b = random(arena, (long) shape.k() * shape.n(), 2);
      this.c = arena.allocate((long) shape.m() * shape.n() * Float.BYTES, 64);
    }

    private static MemorySegment random(Arena arena, long count, long seed) {
      MemorySegment s = arena.allocate(count * Float.BYTES, 64);
      SplittableRandom r = new SplittableRandom(seed);
      for (long i = 0; i < count; i++) {
        s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextDouble() - 0.5));
      }
      return s;
    }

    /** The fastest of the calls made in about {@code seconds} (at least two), after one more. */
    double time(Parallel pool, Gemm.Blocking bl, double seconds) {
      call(pool, bl);
      double best = Double.MAX_VALUE;
      long start = System.nanoTime();
      for (int reps = 0; reps < 2 || (System.nanoTime() - start) / 1e9 < seconds; reps++) {
        long t0 = System.nanoTime();
        call(pool, bl);
        best = Math.min(best, (System.nanoTime() - t0) / 1e9);
      }
      return best;
    }

    void call(Parallel pool, Gemm.Blocking bl) {
      GemmShape s = shape;
      Gemm.sgemm(
          bl,
          pool,
          s.transA(),
          s.transB(),
          s.m(),
          s.n(),
          s.k(),
          1f,
          a,
          0,
          s.transA() ? s.m() : s.k(),
          b,
          0,
          s.transB() ? s.k() : s.n(),
          0f,
          c,
          0,
          s.n());
    }
  }
}
