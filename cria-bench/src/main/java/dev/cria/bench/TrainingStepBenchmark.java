package dev.cria.bench;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.GradientClipping;
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
 * One whole training step (forward with loss, backward, clipping, AdamW) of the {@code tiny} preset
 * at micro-batch 8 x 256, as {@code cria bench} times it. Seconds per step; tokens/s is 2048
 * divided by it.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -jar cria-bench/target/benchmarks.jar TrainingStep
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g"})
public class TrainingStepBenchmark {
  @Param("tiny")
  public String preset;

  @Param("2")
  public int threads;

  @Param("cpu")
  public String backendName;

  private Backend backend;
  private LlamaModel model;
  private AdamW adam;
  private int[] tokens;
  private int[] targets;

  @Setup(Level.Trial)
  public void setUp() {
    LlamaConfig c = LlamaConfig.preset(preset);
    int batch = preset.equals("tiny") ? 8 : 4;
    backend = Backends.open(backendName, threads);
    model = new LlamaModel(c, backend, batch, c.maxSeqLen(), false);
    model.initialize(1);
    adam = new AdamW(model.layout(), AdamW.Settings.llama(), backend);
    SplittableRandom random = new SplittableRandom(2);
    tokens = random.ints(batch * c.maxSeqLen(), 0, c.vocabSize()).toArray();
    targets = random.ints(batch * c.maxSeqLen(), 0, c.vocabSize()).toArray();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    adam.close();
    model.close();
    backend.close();
  }

  @Benchmark
  public double step() {
    model.zeroGradients();
    double loss = model.forward(tokens, targets, 1f);
    model.backward();
    GradientClipping.clip(backend.kernels(), model.gradients(), 1.0);
    adam.step(model.parameters(), model.gradients(), 1e-4);
    return loss;
  }
}
