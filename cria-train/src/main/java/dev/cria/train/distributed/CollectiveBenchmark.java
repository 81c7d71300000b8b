package dev.cria.train.distributed;

import dev.cria.engine.model.GroupTraffic;
import dev.cria.engine.parallel.Collective;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Times the collectives of a joined group as nccl-tests and the OSU benchmarks report them: for
 * each operation and buffer size, the time per operation of the slowest rank (the best of {@link
 * #TRIALS} trials), the algorithm bandwidth (bytes / time) and the bus bandwidth (what each link
 * carries: x 2(n-1)/n for an all-reduce, x (n-1)/n for a reduce-scatter or an all-gather),
 * comparable across rank counts.
 */
public final class CollectiveBenchmark {
  /** The operations timed, in order. */
  public static final List<String> OPERATIONS =
      List.of("all-reduce", "reduce-scatter", "all-gather");

  /** Trials of each operation and size; the fastest is reported. */
  static final int TRIALS = 3;

  private CollectiveBenchmark() {}

  /**
   * One measurement.
   *
   * @param transport what carried it ({@link Collective#transport()})
   * @param operation all-reduce, reduce-scatter or all-gather
   * @param bytes the whole buffer (floats x 4)
   * @param ranks the world size
   * @param seconds mean time per operation on the slowest rank, in the fastest trial
   */
  public record Result(String transport, String operation, long bytes, int ranks, double seconds) {
    /** Bytes per second of the buffer. */
    public double algorithmBandwidth() {
      return bytes / seconds;
    }

    /** What each rank's link carries per second, as nccl-tests computes it. */
    public double busBandwidth() {
      double n = ranks;
      double factor = operation.equals("all-reduce") ? 2 * (n - 1) / n : (n - 1) / n;
      return algorithmBandwidth() * factor;
    }

    /** The transport's kind: the first word of {@link #transport()}. */
    public String kind() {
      int space = transport.indexOf(' ');
      return space < 0 ? transport : transport.substring(0, space);
    }

    /** One line of JSON. */
    public String toJson() {
      return String.format(
          Locale.ROOT,
          "{\"collective\":\"%s\",\"transport\":\"%s\",\"operation\":\"%s\",\"bytes\":%d,"
              + "\"ranks\":%d,\"seconds\":%.9f,\"algbw_gbps\":%.4f,\"busbw_gbps\":%.4f}",
          kind(),
          transport.replace("\\", "\\\\").replace("\"", "\\\""),
          operation,
          bytes,
          ranks,
          seconds,
          algorithmBandwidth() / 1e9,
          busBandwidth() / 1e9);
    }

    /** The line a worker prints for its launcher. */
    public String toWire() {
      return String.join(
          "\t",
          "result",
          transport,
          operation,
          Long.toString(bytes),
          Integer.toString(ranks),
          Double.toString(seconds));
    }

    /** A line from {@link #toWire()}, or null when {@code line} is something else. */
    public static Result fromWire(String line) {
      String[] f = line.split("\t");
      if (f.length != 6 || !f[0].equals("result")) {
        return null;
      }
      return new Result(
          f[1], f[2], Long.parseLong(f[3]), Integer.parseInt(f[4]), Double.parseDouble(f[5]));
    }
  }

  /** How many times an operation of {@code bytes} is timed: enough to see small ones. */
  static int iterations(long bytes) {
    if (bytes <= 64 << 10) {
      return 200;
    }
    if (bytes <= 1 << 20) {
      return 50;
    }
    return bytes <= 16 << 20 ? 10 : 4;
  }

  /**
   * Times every operation at every size of {@code sizes} (bytes, multiples of 4) on {@code group};
   * every rank calls it and gets the results; {@code each} sees them as they come.
   */
  public static List<Result> run(Collective group, List<Long> sizes, Consumer<Result> each) {
    List<Result> results = new ArrayList<>();
    long largest = sizes.stream().mapToLong(Long::longValue).max().orElse(4);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment buffer = arena.allocate(Math.max(64, largest), 64);
      MemorySegment times = arena.allocate((long) Float.BYTES * group.worldSize(), 64);
      for (long b = 0; b + 4 <= buffer.byteSize(); b += 4) {
        buffer.set(ValueLayout.JAVA_FLOAT, b, 1e-3f * group.rank());
      }
      // the JIT compiles every path first, so that the first sizes timed are not its victims
      long warmUntil = System.nanoTime() + 1_000_000_000L;
      for (int round = 0; round < 50; round++) {
        for (String op : OPERATIONS) {
          for (long bytes : sizes) {
            if (bytes <= 1 << 20 || round < 2) { // the large ones' pages touched, their paths hot
              once(group, op, buffer, bytes / Float.BYTES);
            }
          }
        }
        // every rank warms as many rounds as rank 0 decides
        times.setAtIndex(ValueLayout.JAVA_FLOAT, 0, System.nanoTime() < warmUntil ? 0f : 1f);
        group.broadcast(times, Float.BYTES, 0);
        if (times.getAtIndex(ValueLayout.JAVA_FLOAT, 0) > 0) {
          break;
        }
      }
      for (String op : OPERATIONS) {
        for (long bytes : sizes) {
          long count = bytes / Float.BYTES;
          MemorySegment data = buffer.asSlice(0, Math.max(4, bytes));
          int n = iterations(bytes);
          for (int i = 0; i < 2; i++) {
            once(group, op, data, count);
          }
          // the best of a few trials: a core the JIT or another process took for a while
          // (two ranks on two cores) disturbs one trial, not the figure
          double best = Double.POSITIVE_INFINITY;
          for (int trial = 0; trial < TRIALS; trial++) {
            group.barrier();
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
              once(group, op, data, count);
            }
            double mine = (System.nanoTime() - t0) / 1e9 / n;
            // the slowest rank's time: each rank's own in its slot, gathered
            times.fill((byte) 0);
            times.setAtIndex(ValueLayout.JAVA_FLOAT, group.rank(), (float) mine);
            group.allGather(times, group.worldSize());
            double slowest = 0;
            for (int r = 0; r < group.worldSize(); r++) {
              slowest = Math.max(slowest, times.getAtIndex(ValueLayout.JAVA_FLOAT, r));
            }
            best = Math.min(best, slowest);
          }
          Result r = new Result(group.transport(), op, bytes, group.worldSize(), best);
          results.add(r);
          each.accept(r);
        }
      }
    }
    return results;
  }

  private static void once(Collective group, String op, MemorySegment data, long count) {
    switch (op) {
      case "all-reduce" -> group.allReduceSum(data, count);
      case "reduce-scatter" -> group.reduceScatterSum(data, count);
      default -> group.allGather(data, count);
    }
  }

  /**
   * Seconds a model's tensor-parallel group spends in the collectives of one micro-batch's pass
   * ({@code traffic}), from one transport's {@code results} at its sizes: each call counted at the
   * time measured for its operation and size.
   *
   * @throws IllegalArgumentException when a size or operation of the traffic was not measured
   */
  public static double passSeconds(GroupTraffic traffic, List<Result> results) {
    double seconds = 0;
    for (GroupTraffic.Collectives c : traffic.collectives()) {
      Result r =
          results.stream()
              .filter(x -> x.operation().equals(c.operation()) && x.bytes() == c.bytes())
              .findFirst()
              .orElseThrow(() ->
                  new IllegalArgumentException(
                      "no measurement of " + c.operation() + " of " + c.bytes() + " bytes"));
      seconds += c.count() * r.seconds();
    }
    return seconds;
  }

  /**
   * Bytes from text with an optional binary suffix: {@code 4}, {@code 64K}, {@code 16M}, {@code
   * 1G}; a positive multiple of 4.
   */
  public static long parseSize(String text) {
    String t = text.strip().toUpperCase(Locale.ROOT).replaceAll("I?B$", "");
    long unit = 1;
    if (t.endsWith("K") || t.endsWith("M") || t.endsWith("G")) {
      unit = 1L << (10 * ("KMG".indexOf(t.charAt(t.length() - 1)) + 1));
      t = t.substring(0, t.length() - 1);
    }
    long bytes;
    try {
      bytes = Math.multiplyExact(Long.parseLong(t), unit);
    } catch (NumberFormatException | ArithmeticException e) {
      throw new IllegalArgumentException(
          "size '" + text + "' is not a number of bytes (4, 64K, 16M)");
    }
    if (bytes <= 0 || bytes % 4 != 0) {
      throw new IllegalArgumentException(
          "size '" + text + "' must be a positive multiple of 4 bytes (whole floats)");
    }
    return bytes;
  }
}
