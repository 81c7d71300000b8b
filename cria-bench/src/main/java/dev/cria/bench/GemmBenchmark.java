package dev.cria.bench;

import dev.cria.engine.cpu.Gemm;
import dev.cria.engine.cpu.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@link Gemm#sgemm} on the three products of a linear layer at T = 2048 tokens, in = out = 512,
 * and the LM head (vocabulary 32000), with 1 and 2 kernel threads.
 *
 * <p>The primary score is calls per second; the {@code gflops} secondary score is the rate in
 * GFLOP/s ({@code 2mnk} per call). Run with
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -jar cria-bench/target/benchmarks.jar Gemm
 * java --add-modules jdk.incubator.vector -jar cria-bench/target/benchmarks.jar Gemm -p shape=forward -p threads=2
 * </pre>
 *
 * and compare with {@code tools/bench_numpy_sgemm.py} (OpenBLAS) and {@link FmaPeakMain} (the
 * machine's FMA peak).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx2g"})
public class GemmBenchmark {

  /**
   * forward: Y = X W^T; inputGrad: dX += dY W; weightGrad: dW += dY^T X; lmHead: forward, V=32000.
   */
  @Param({"forward", "inputGrad", "weightGrad", "lmHead"})
  public String shape;

  @Param({"1", "2"})
  public int threads;

  @Param("2048")
  public int tokens;

  @Param("512")
  public int dim;

  private Parallel pool;
  private Arena arena;
  private boolean transA;
  private boolean transB;
  private int m;
  private int n;
  private int k;
  private float beta;
  private MemorySegment a;
  private MemorySegment b;
  private MemorySegment c;
  private int lda;
  private int ldb;
  private double gflopPerCall;

  /** JMH reports each public field as a rate: {@code gflops} in GFLOP/s. */
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  @State(Scope.Thread)
  public static class Flops {
    public double gflops;
  }

  @Setup(Level.Trial)
  public void setUp() {
    int out = shape.equals("lmHead") ? 32000 : dim;
    switch (shape) {
      case "forward", "lmHead" -> set(false, true, tokens, out, dim, 0f);
      case "inputGrad" -> set(false, false, tokens, dim, out, 1f);
      case "weightGrad" -> set(true, false, out, dim, tokens, 1f);
      default -> throw new IllegalArgumentException(shape);
    }
    pool = Parallel.create(threads);
    arena = Arena.ofShared();
    lda = transA ? m : k;
    ldb = transB ? k : n;
    a = random((long) m * k);
    b = random((long) k * n);
    c = arena.allocate((long) m * n * Float.BYTES, 64);
    gflopPerCall = 2.0 * m * n * k / 1e9;
  }

  private void set(boolean ta, boolean tb, int m, int n, int k, float beta) {
    this.transA = ta;
    this.transB = tb;
    this.m = m;
    this.n = n;
    this.k = k;
    this.beta = beta;
  }

  private MemorySegment random(long count) {
    MemorySegment s = arena.allocate(count * Float.BYTES, 64);
    SplittableRandom r = new SplittableRandom(count);
    for (long i = 0; i < count; i++) {
      s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(-1, 1));
    }
    return s;
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    pool.close();
    arena.close();
  }

  @Benchmark
  public void sgemm(Flops flops) {
    Gemm.sgemm(pool, transA, transB, m, n, k, 1f, a, 0, lda, b, 0, ldb, beta, c, 0, n);
    flops.gflops += gflopPerCall;
  }
}
