package dev.cria.cli.bench;

import dev.cria.cli.UserError;
import dev.cria.engine.backend.TimedKernels;
import dev.cria.engine.bench.StepBenchmark;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.Precision;
import dev.cria.train.compile.KernelCache;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.ModelShape;
import dev.cria.train.config.TrainConfig;
import java.io.PrintWriter;
import java.util.Comparator;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code cria bench}: times full training steps of a preset model on random tokens. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    subcommands = CollectiveBenchCommand.class,
    description = {
      "Time full training steps (forward, backward, AdamW) of a preset model on random tokens.",
      "Prints tokens/s, the split into forward/backward/optimizer, achieved GFLOP/s and MFU: model FLOPs"
          + " (6 x matmul parameters + causal attention, per token) over the backend's peak measured at start"
          + " (an FMA loop on every thread for cpu)."
    })
public final class BenchCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--preset",
      defaultValue = "tiny",
      paramLabel = "NAME",
      description =
          "Model preset: tiny, small, llama2-7b, llama2-13b, llama2-70b (default: ${DEFAULT-VALUE}).")
  String preset;

  @Option(
      names = "--tokenizer",
      paramLabel = "PATH",
      description = "Take the vocabulary size from this tokenizer instead of the preset's.")
  java.nio.file.Path tokenizer;

  @Option(
      names = "--hidden-size",
      paramLabel = "D",
      description = "Resize the preset: model width (the FFN follows, as in cria train).")
  Integer hiddenSize;

  @Option(names = "--layers", paramLabel = "L", description = "Resize the preset: layers.")
  Integer layers;

  @Option(names = "--heads", paramLabel = "H", description = "Resize the preset: attention heads.")
  Integer heads;

  @Option(names = "--threads", paramLabel = "N", description = "Threads (default: all cores).")
  Integer threads;

  @Option(
      names = "--backend",
      paramLabel = "NAME",
      defaultValue = "auto",
      description = "Engine backend: auto, cpu, reference (default: ${DEFAULT-VALUE}).")
  String backend;

  @Option(
      names = "--micro-batch",
      paramLabel = "B",
      description = "Sequences per step (default: tiny 8, small 4, else 1).")
  Integer microBatch;

  @Option(
      names = "--seq-len",
      paramLabel = "T",
      description = "Tokens per sequence (default: the preset's length).")
  Integer seqLen;

  @Option(
      names = "--steps",
      defaultValue = "5",
      paramLabel = "N",
      description = "Timed steps (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(
      names = "--warmup",
      defaultValue = "2",
      paramLabel = "N",
      description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
  int warmup;

  @Option(
      names = "--compile-cache",
      paramLabel = "DIR",
      defaultValue = "runs/" + KernelCache.DIRECTORY_NAME,
      description =
          "Run the kernels cria compile tuned for this machine and these shapes, from here"
              + " (default: ${DEFAULT-VALUE}, where cria train's default run finds them).")
  java.nio.file.Path compileCache;

  @Option(names = "--no-compile-cache", description = "Run the backend's default kernels.")
  boolean noCompileCache;

  @Option(
      names = "--precision",
      paramLabel = "P",
      defaultValue = "32",
      description =
          "What the model computes in: 32, bf16-mixed (bf16 products of the linear layers,"
              + " fp32 master weights; bf16 reads as bf16-mixed) or bf16-sr (bf16 weights and"
              + " moments, rounded stochastically). Default: ${DEFAULT-VALUE}.")
  String precision;

  @Option(names = "--profile", description = "Also show where the time goes, by kernel.")
  boolean profile;

  @Option(names = "--json", description = "End with one line of JSON.")
  boolean json;

  @Override
  public Integer call() {
    LlamaConfig config;
    try {
      config =
          ModelShape.of(
              new TrainConfig.Model(
                  preset,
                  null,
                  hiddenSize,
                  layers,
                  heads,
                  null,
                  null,
                  null,
                  null,
                  null,
                  0.02,
                  true,
                  false),
              tokenizer != null ? dev.cria.data.tokenizer.Tokenizers.load(tokenizer) : null);
    } catch (ConfigException e) {
      throw new UserError(e.getMessage().replaceFirst("^model.preset: ", ""));
    }
    int b =
        microBatch != null
            ? microBatch
            : preset.equals("tiny") ? 8 : preset.equals("small") ? 4 : 1;
    int t = seqLen != null ? seqLen : config.maxSeqLen();
    int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    StepBenchmark.Settings settings;
    try {
      settings =
          new StepBenchmark.Settings(
              config, backend, n, b, t, warmup, steps, profile, Precision.parse(precision));
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    StepBenchmark.Result r;
    java.util.List<dev.cria.engine.backend.GemmShape> shapes =
        dev.cria.engine.model.KernelShapes.training(config, b * t, settings.precision());
    java.util.concurrent.atomic.AtomicReference<String> cacheLine =
        new java.util.concurrent.atomic.AtomicReference<>("");
    try {
      r =
          StepBenchmark.run(
              settings,
              line -> {
                err.println("bench: " + line);
                err.flush();
              },
              backend ->
                  cacheLine.set(
                      KernelCache.use(
                          noCompileCache ? null : compileCache,
                          backend,
                          shapes,
                          warning -> {
                            err.println("bench: warning: " + warning);
                            err.flush();
                          })));
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    out.printf(
        Locale.ROOT,
        "preset %s: dim %d, %d layers, %d heads, FFN %d, vocab %d; micro-batch %d x seq %d,"
            + " backend %s, precision %s%n",
        preset,
        config.dim(),
        config.layers(),
        config.heads(),
        config.ffnDim(),
        config.vocabSize(),
        b,
        t,
        r.kernels(),
        settings.precision());
    out.println(cacheLine.get());
    out.printf(Locale.ROOT, "tokens/s     %.0f%n", r.tokensPerSec());
    out.printf(
        Locale.ROOT,
        "step         %.1f ms = forward %.1f + backward %.1f + optimizer %.1f%n",
        r.stepMs(),
        r.forwardMs(),
        r.backwardMs(),
        r.optimizerMs());
    out.printf(
        Locale.ROOT,
        "achieved     %.1f GFLOP/s (%.1f MFLOP per token)%n",
        r.gflops(),
        config.trainingFlopsPerToken(t) / 1e6);
    out.printf(
        Locale.ROOT,
        "peak         %.1f GFLOP/s (%s, measured on the backend's threads, before and after)%n",
        r.peak().gflops(),
        r.peak().of());
    out.printf(Locale.ROOT, "MFU          %.1f%% (of %s)%n", 100 * r.mfu(), r.peak().of());
    if (profile) {
      double total = r.profileSeconds().values().stream().mapToDouble(Double::doubleValue).sum();
      out.println("where the time goes (kernels, per step):");
      r.profileSeconds().entrySet().stream()
          .filter(e -> e.getValue() > 0)
          .sorted(Map.Entry.<TimedKernels.Op, Double>comparingByValue(Comparator.reverseOrder()))
          .forEach(e ->
              out.printf(
                  Locale.ROOT,
                  "  %-20s %8.1f ms  %5.1f%%%n",
                  e.getKey().name().toLowerCase(Locale.ROOT),
                  1e3 * e.getValue() / steps,
                  100 * e.getValue() / total));
    }
    if (json) {
      out.println(r.toJson(preset));
    }
    out.flush();
    return 0;
  }
}
