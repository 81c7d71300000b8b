package dev.cria.bench;

import dev.cria.engine.backend.AttentionShape;
import dev.cria.engine.cpu.CpuKernels;
import dev.cria.engine.cpu.Parallel;
import dev.cria.engine.tensor.View;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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
 * Causal attention forward and backward of {@link CpuKernels} at the shapes of the {@code tiny} (8
 * x 256 tokens, 6 heads of 48) and {@code small} (4 x 512, 8 heads of 64) presets.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -jar cria-bench/target/benchmarks.jar Attention
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx2g"})
public class AttentionBenchmark {
  /** batch x seq x heads x headDim. */
  @Param({"tiny", "small"})
  public String preset;

  @Param("2")
  public int threads;

  private Parallel parallel;
  private CpuKernels kernels;
  private AttentionShape shape;
  private Arena arena;
  private int batch;
  private int seq;
  private int heads;
  private int headDim;
  private MemorySegment q;
  private MemorySegment k;
  private MemorySegment v;
  private MemorySegment out;
  private MemorySegment lse;
  private MemorySegment dOut;
  private MemorySegment dq;
  private MemorySegment dk;
  private MemorySegment dv;

  @Setup(Level.Trial)
  public void setUp() {
    boolean tiny = preset.equals("tiny");
    batch = tiny ? 8 : 4;
    seq = tiny ? 256 : 512;
    heads = tiny ? 6 : 8;
    headDim = tiny ? 48 : 64;
    parallel = Parallel.create(threads);
    kernels = new CpuKernels(parallel);
    shape = new AttentionShape(batch, seq, heads, heads, headDim);
    arena = Arena.ofShared();
    long n = (long) batch * seq * heads * headDim;
    SplittableRandom random = new SplittableRandom(1);
    q = random(n, random);
    k = random(n, random);
    v = random(n, random);
    dOut = random(n, random);
    out = arena.allocate(n * 4, 64);
    dq = arena.allocate(n * 4, 64);
    dk = arena.allocate(n * 4, 64);
    dv = arena.allocate(n * 4, 64);
    lse = arena.allocate((long) batch * heads * seq * 4, 64);
    kernels.attentionForward(
        View.f32(out, 0), View.f32(lse, 0), View.f32(q, 0), View.f32(k, 0), View.f32(v, 0), shape);
  }

  private MemorySegment random(long n, SplittableRandom random) {
    MemorySegment s = arena.allocate(n * 4, 64);
    for (long i = 0; i < n; i++) {
      s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (random.nextDouble() * 2 - 1));
    }
    return s;
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    parallel.close();
    arena.close();
  }

  @Benchmark
  public MemorySegment forward() {
    kernels.attentionForward(
        View.f32(out, 0), View.f32(lse, 0), View.f32(q, 0), View.f32(k, 0), View.f32(v, 0), shape);
    return out;
  }

  @Benchmark
  public MemorySegment backward() {
    kernels.attentionBackward(
        View.f32(dq, 0),
        View.f32(dk, 0),
        View.f32(dv, 0),
        View.f32(dOut, 0),
        View.f32(q, 0),
        View.f32(k, 0),
        View.f32(v, 0),
        View.f32(out, 0),
        View.f32(lse, 0),
        shape);
    return dq;
  }
}
