package dev.cria.cli.model;

import dev.cria.cli.UserError;
import dev.cria.cli.progress.StatusLine;
import dev.cria.data.gpt.Split;
import dev.cria.train.Evaluation;
import dev.cria.train.checkpoint.TrainedModel;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria eval}: a checkpoint's loss and perplexity on the first global batches of a split. */
@Command(
    name = "eval",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Evaluate a checkpoint: loss and perplexity on a split of a prepared dataset.",
      "",
      "The samples, micro-batches and global batches are the run's (its config.yaml), in Megatron's order;"
          + " on the valid split with the run's data this repeats the run's val_loss.",
      ""
    })
public final class EvalCommand implements Callable<Integer> {
  /** A line of progress at most this often (a short evaluation prints none). */
  private static final long PROGRESS_EVERY_NANOS = 10_000_000_000L;

  @Spec CommandSpec spec;

  @Parameters(
      index = "0",
      paramLabel = "RUN_OR_CHECKPOINT",
      description = "A run directory (its newest valid checkpoint) or a step-N checkpoint.")
  Path source;

  @Option(
      names = "--data-prefix",
      arity = "1..*",
      paramLabel = "PREFIX",
      description = "Dataset prefix, or weight and prefix pairs (default: the run's).")
  List<String> dataPrefix;

  @Option(
      names = "--split",
      paramLabel = "SPLIT",
      defaultValue = "valid",
      description = "valid or test (default: ${DEFAULT-VALUE}).")
  String split;

  @Option(
      names = "--batches",
      paramLabel = "N",
      description = "Global batches (default: the run's limit_val_batches).")
  Integer batches;

  @Option(
      names = "--threads",
      paramLabel = "N",
      defaultValue = "0",
      description = "Compute threads (default: all cores).")
  int threads;

  @Option(
      names = "--backend",
      paramLabel = "NAME",
      description = "Engine backend: auto, cpu, reference (default: the run's trainer.backend).")
  String backend;

  @Option(
      names = "--json",
      description = "Also print one JSON object with loss and perplexity as the last line.")
  boolean json;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    Split which =
        switch (split.toLowerCase(Locale.ROOT)) {
          case "valid", "validation" -> Split.VALID;
          case "test" -> Split.TEST;
          default -> throw new UserError("--split must be valid or test, got '" + split + "'");
        };
    if (threads < 0) {
      throw new UserError("--threads must be 0 (every core) or more, got " + threads);
    }
    if (batches != null && batches < 1) {
      throw new UserError("--batches must be at least 1, got " + batches);
    }
    try (TrainedModel model = TrainedModel.load(source, line -> out.println("warning: " + line))) {
      if (model.config() == null) {
        throw new UserError(
            source
                + " is a Hugging Face directory; cria eval needs a cria checkpoint (its config"
                + " says how the data is split and batched)");
      }
      TrainConfig config;
      try {
        config = Evaluation.configFor(model, dataPrefix);
      } catch (ConfigException e) {
        throw new UserError(e.getMessage());
      }
      int n = batches != null ? batches : Math.max(1, config.trainer().limitValBatches());
      out.printf(
          Locale.ROOT,
          "evaluating %s (step %d) on the %s split of %s%n",
          model.source(),
          model.checkpoint().step(),
          which.label(),
          String.join(" ", config.data().dataPrefix()));
      Evaluation.Result r;
      long start = System.nanoTime();
      long[] lastLine = {start};
      try {
        r =
            Evaluation.run(
                model,
                config,
                which,
                n,
                backend,
                threads,
                line -> out.println("  " + line), // the split, its samples and epochs, as train's
                done -> {
                  long now = System.nanoTime();
                  if (done < n && now - lastLine[0] >= PROGRESS_EVERY_NANOS) {
                    lastLine[0] = now;
                    double seconds = (now - start) / 1e9;
                    out.printf(
                        Locale.ROOT,
                        "  %d/%d batches (%s, ETA %s)%n",
                        done,
                        n,
                        StatusLine.duration(seconds),
                        StatusLine.duration(seconds / done * (n - done)));
                    out.flush();
                  }
                });
      } catch (ConfigException e) {
        throw new UserError(e.getMessage());
      }
      out.printf(
          Locale.ROOT,
          "%s loss %.4f, perplexity %.2f (%d batches of %d x %d tokens, %.1f s)%n",
          which.label(),
          r.loss(),
          r.perplexity(),
          r.batches(),
          r.globalBatch(),
          r.seqLength(),
          r.seconds());
      if (json) {
        out.println(r.toJson(model, config));
      }
      out.flush();
      return 0;
    }
  }
}
