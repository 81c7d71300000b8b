package dev.cria.cli.model;

import dev.cria.cli.UserError;
import dev.cria.engine.infer.Sampler;
import dev.cria.train.Generation;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria generate}: sample a continuation of a prompt, token by token, with a KV cache. */
@Command(
    name = "generate",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Sample text from a checkpoint (or a Hugging Face Llama directory), streamed as it is made.",
      "",
      "The prompt is encoded with <s> in front; sampling stops at </s>, at --max-new-tokens or at the model's"
          + " context length. Temperature 0 picks the most likely token every time.",
      ""
    })
public final class GenerateCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(
      index = "0",
      paramLabel = "CHECKPOINT",
      description =
          "A run directory (its newest valid checkpoint), a step-N checkpoint or a Hugging Face directory.")
  Path source;

  @Option(
      names = "--prompt",
      paramLabel = "TEXT",
      defaultValue = "",
      description = "Text to continue (default: none).")
  String prompt;

  @Option(
      names = "--max-new-tokens",
      paramLabel = "N",
      defaultValue = "64",
      description = "Tokens to add (default: ${DEFAULT-VALUE}).")
  int maxNewTokens;

  @Option(
      names = "--temperature",
      paramLabel = "T",
      defaultValue = "0.6",
      description =
          "Softmax temperature, 0 for greedy (default: ${DEFAULT-VALUE}, as Llama 2's generation_config).")
  double temperature;

  @Option(
      names = "--top-p",
      paramLabel = "P",
      defaultValue = "0.9",
      description = "Nucleus sampling mass (default: ${DEFAULT-VALUE}).")
  double topP;

  @Option(
      names = "--seed",
      paramLabel = "S",
      defaultValue = "1234",
      description = "Sampling seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--tokenizer",
      paramLabel = "PATH",
      description =
          "Tokenizer to use instead of the checkpoint's (needed when it holds none); it must be"
              + " the one the model was trained with.")
  Path tokenizerPath;

  @Option(
      names = "--threads",
      paramLabel = "N",
      defaultValue = "0",
      description = "Compute threads (default: all cores).")
  int threads;

  @Option(
      names = "--backend",
      paramLabel = "NAME",
      defaultValue = "auto",
      description = "Engine backend: auto, cpu, reference (default: ${DEFAULT-VALUE}).")
  String backend;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (!(temperature >= 0)) {
      throw new UserError("--temperature must be 0 (greedy) or more, got " + temperature);
    }
    if (threads < 0) {
      throw new UserError("--threads must be 0 (every core) or more, got " + threads);
    }
    Generation.Result r;
    try {
      Sampler sampler = temperature <= 0 ? Sampler.greedy() : Sampler.of(temperature, topP, seed);
      r =
          Generation.run(
              new Generation.Request(
                  source, tokenizerPath, prompt, maxNewTokens, sampler, backend, threads),
              piece -> {
                out.print(piece);
                out.flush();
              },
              line -> err.println("warning: " + line));
      out.println();
      out.flush();
      err.printf(
          Locale.ROOT,
          "[%d prompt tokens in %.2f s; %d new tokens in %.2f s, %.1f tokens/s; %s; %s]%n",
          r.promptTokens(),
          r.prefillSeconds(),
          r.newTokens(),
          r.seconds(),
          r.tokensPerSecond(),
          switch (r.stop()) {
            case END_OF_TEXT -> "stopped at </s>";
            case TOKEN_BUDGET -> "--max-new-tokens reached";
            case CONTEXT_FULL -> "context full";
          },
          sampler);
      err.flush();
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    return 0;
  }
}
