package dev.cria.engine.bench;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.Peak;
import dev.cria.engine.backend.ProfiledBackend;
import dev.cria.engine.backend.TimedKernels;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.Precision;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.GradientClipping;
import dev.cria.engine.optim.StochasticRounding;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.View;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Times full training steps (forward with loss, backward, clipping and AdamW) on random tokens
 * after a warmup, on a backend chosen by name, and relates them to the backend's peak measured at
 * start.
 */
public final class StepBenchmark {
  private StepBenchmark() {}

  /**
   * What to run.
   *
   * @param backend the backend's name ({@code auto}: the best available)
   * @param profile time every kernel call by kind (adds a little overhead)
   * @param precision what the model computes in
   */
  public record Settings(
      LlamaConfig config,
      String backend,
      int threads,
      int microBatch,
      int seqLen,
      int warmupSteps,
      int steps,
      boolean profile,
      Precision precision) {
    public Settings {
      String bad =
          threads < 1
              ? "--threads " + threads
              : microBatch < 1
                  ? "--micro-batch " + microBatch
                  : seqLen < 1 ? "--seq-len " + seqLen : steps < 1 ? "--steps " + steps : null;
      if (bad != null) {
        throw new IllegalArgumentException(bad + ": must be at least 1");
      }
      if (warmupSteps < 0) {
        throw new IllegalArgumentException("--warmup " + warmupSteps + ": must be 0 or more");
      }
      if (seqLen > config.maxSeqLen()) {
        throw new IllegalArgumentException(
            "--seq-len "
                + seqLen
                + " is longer than the model's context, "
                + config.maxSeqLen()
                + " positions");
      }
      java.util.Objects.requireNonNull(precision, "precision");
    }
  }

  /**
   * The measurement, over the timed steps.
   *
   * @param peak what MFU is relative to, measured before and after the steps, the higher of the
   *     two: the FMA loop of all threads, or for bf16 products the bf16 product's best rate
   * @param mfu model FLOP/s over the peak
   * @param profileSeconds seconds per kernel kind over the timed steps (empty without profiling)
   */
  public record Result(
      Settings settings,
      String kernels,
      double tokensPerSec,
      double stepMs,
      double forwardMs,
      double backwardMs,
      double optimizerMs,
      double gflops,
      Peak peak,
      double mfu,
      double lastLoss,
      Map<TimedKernels.Op, Double> profileSeconds) {
    /**
     * One line of JSON with the settings and the measurement, for scripts ({@code cria bench
     * --json}).
     */
    public String toJson(String preset) {
      ObjectNode o = JsonMapper.builder().build().createObjectNode();
      o.put("tool", "cria");
      o.put("preset", preset);
      o.put("backend", kernels);
      o.put("threads", settings.threads());
      o.put("micro_batch", settings.microBatch());
      o.put("seq_len", settings.seqLen());
      o.put("precision", settings.precision().text());
      o.put("tokens_per_sec", tokensPerSec);
      o.put("mfu", mfu);
      o.put("step_ms", stepMs);
      o.put("forward_ms", forwardMs);
      o.put("backward_ms", backwardMs);
      o.put("optimizer_ms", optimizerMs);
      o.put("gflops", gflops);
      o.put("peak_gflops", peak.gflops());
      o.put("peak_of", peak.of());
      return o.toString();
    }
  }

  /** {@link #run(Settings, Consumer, Consumer)} on the backend as it opens. */
  public static Result run(Settings s, Consumer<String> log) {
    return run(s, log, backend -> {});
  }

  /**
   * Runs the benchmark; {@code prepare} is given the backend as soon as it is open (to use tuned
   * kernels from a cache, say).
   */
  public static Result run(Settings s, Consumer<String> log, Consumer<Backend> prepare) {
    LlamaConfig shape = s.config().withMaxSeqLen(Math.max(s.config().maxSeqLen(), s.seqLen()));
    LlamaModel.requireMemoryFor(shape, s.microBatch(), s.seqLen());
    try (Backend base = Backends.open(s.backend(), s.threads())) {
      prepare.accept(base);
      ProfiledBackend profiled = new ProfiledBackend(base);
      Backend backend = s.profile() ? profiled : base;
      TimedKernels timed = profiled.timings();
      log.accept("measuring the peak of " + backend.description() + " ...");
      Peak peak = Peak.measure(backend, s.precision().products(), 1.0);
      LlamaConfig c = s.config();
      if (s.precision().products() == DType.BF16) {
        log.accept(s.precision().describe(backend.kernels().bf16Matmul()));
      }
      StochasticRounding rounding = StochasticRounding.forPrecision(s.precision(), 1234);
      try (LlamaModel model =
              new LlamaModel(shape, backend, s.microBatch(), s.seqLen(), false, s.precision());
          AdamW adam =
              new AdamW(
                  model.layout(),
                  AdamW.Settings.llama(),
                  backend,
                  0,
                  model.layout().size(),
                  rounding)) {
        log.accept(
            String.format(
                "model %,d parameters, %.0f MB of buffers; %d warmup + %d timed steps",
                c.parameterCount(),
                (model.bytes() + adam.stateBytes()) / 1e6,
                s.warmupSteps(),
                s.steps()));
        model.initialize(1234);
        SplittableRandom random = new SplittableRandom(42);
        int n = s.microBatch() * s.seqLen();
        int[] tokens = new int[n];
        int[] targets = new int[n];
        double forward = 0;
        double backward = 0;
        double optimizer = 0;
        double loss = Double.NaN;
        for (int step = 0; step < s.warmupSteps() + s.steps(); step++) {
          if (step == s.warmupSteps()) {
            forward = backward = optimizer = 0;
            timed.reset();
          }
          for (int i = 0; i < n; i++) {
            tokens[i] = random.nextInt(c.vocabSize());
            targets[i] = random.nextInt(c.vocabSize());
          }
          long t0 = System.nanoTime();
          model.zeroGradients();
          loss = model.forward(tokens, targets, 1f);
          long t1 = System.nanoTime();
          model.backward();
          long t2 = System.nanoTime();
          if (rounding != null) { // bf16 gradients, as the trainer rounds them
            rounding.round(
                backend.kernels(),
                View.of(model.gradients(), 0),
                model.layout().size(),
                0,
                step + 1,
                StochasticRounding.Stream.GRADIENTS);
          }
          GradientClipping.clip(backend.kernels(), model.gradients(), 1.0);
          adam.step(model.parameters(), model.gradients(), 1e-4);
          long t3 = System.nanoTime();
          forward += (t1 - t0) / 1e6;
          backward += (t2 - t1) / 1e6;
          optimizer += (t3 - t2) / 1e6;
          log.accept(
              String.format(
                  "%s step %d: %.0f ms, loss %.4f",
                  step < s.warmupSteps() ? "warmup" : "timed", step + 1, (t3 - t0) / 1e6, loss));
        }
        // measured again after the steps: the higher stands (a slow moment at start would
        // otherwise make the MFU pass 100%)
        Peak after = Peak.measure(backend, s.precision().products(), 1.0);
        log.accept(
            String.format(
                "peak measured before and after the steps: %.1f and %.1f GFLOP/s, the higher used",
                peak.gflops(), after.gflops()));
        peak = peak.higher(after);
        double stepMs = (forward + backward + optimizer) / s.steps();
        double tokensPerSec = n / (stepMs / 1e3);
        double gflops = tokensPerSec * c.trainingFlopsPerToken(s.seqLen()) / 1e9;
        Map<TimedKernels.Op, Double> profile = s.profile() ? timed.seconds() : Map.of();
        return new Result(
            s,
            backend.description(),
            tokensPerSec,
            stepMs,
            forward / s.steps(),
            backward / s.steps(),
            optimizer / s.steps(),
            gflops,
            peak,
            gflops / peak.gflops(),
            loss,
            profile);
      }
    }
  }
}
