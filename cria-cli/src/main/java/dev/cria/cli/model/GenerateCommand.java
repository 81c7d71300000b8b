package dev.cria.cli.model;

import dev.cria.cli.UserError;
import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import dev.cria.engine.infer.LlamaDecoder;
import dev.cria.engine.infer.Sampler;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.train.checkpoint.TrainedModel;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria generate}: sample a continuation of a prompt, token by token, with a KV cache. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
      "Sample text from a checkpoint (or a Hugging Face Llama directory), streamed as it is made.",
      "",
      "The prompt is encoded with <s> in front; sampling stops at </s>, at --max-new-tokens or at the model's"
          + " context length. Temperature 0 picks the most likely token every time.",
      ""
    })
public final class GenerateCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(index = "0", paramLabel = "CHECKPOINT",
      description = "A run directory (its newest valid checkpoint), a step-N checkpoint or a Hugging Face directory.")
  Path source;

  @Option(names = "--prompt", paramLabel = "TEXT", defaultValue = "", description = "Text to continue (default: none).")
  String prompt;

  @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "64", description = "Tokens to add (default: ${DEFAULT-VALUE}).")
  int maxNewTokens;

  @Option(names = "--temperature", paramLabel = "T", defaultValue = "0.6",
      description = "Softmax temperature, 0 for greedy (default: ${DEFAULT-VALUE}, as Llama 2's generation_config).")
  double temperature;

  @Option(names = "--top-p", paramLabel = "P", defaultValue = "0.9", description = "Nucleus sampling mass (default: ${DEFAULT-VALUE}).")
  double topP;

  @Option(names = "--seed", paramLabel = "S", defaultValue = "1234", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer, when the checkpoint holds none.")
  Path tokenizerPath;

  @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "Compute threads (default: all cores).")
  int threads;

  @Option(names = "--backend", paramLabel = "NAME", defaultValue = "auto",
      description = "Engine backend: auto, cpu, reference (default: ${DEFAULT-VALUE}).")
  String backend;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (maxNewTokens < 1) {
      throw new UserError("--max-new-tokens must be at least 1, got " + maxNewTokens);
    }
    Sampler sampler;
    try {
      sampler = temperature <= 0 ? Sampler.greedy() : Sampler.of(temperature, topP, seed);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    try (TrainedModel model = TrainedModel.load(source, line -> err.println("warning: " + line));
        Backend engine = openBackend(backend, threads)) {
      Tokenizer tok = tokenizerPath != null ? Tokenizers.load(tokenizerPath) : model.tokenizer();
      if (tok == null) {
        throw new UserError(model.source() + " holds no tokenizer (the run named no model.tokenizer); pass --tokenizer");
      }
      if (tok.vocabSize() != model.shape().vocabSize()) {
        throw new UserError("the tokenizer has " + tok.vocabSize() + " tokens, the model " + model.shape().vocabSize());
      }
      boolean bos = tok.specials().bos() >= 0;
      int[] promptIds = tok.encode(prompt, bos, false);
      if (promptIds.length == 0) {
        throw new UserError("the tokenizer has no <s> to start from: give a --prompt");
      }
      int context = model.shape().maxSeqLen();
      if (promptIds.length >= context) {
        throw new UserError("the prompt is " + promptIds.length + " tokens; the model's context is " + context);
      }
      int budget = Math.min(maxNewTokens, context - promptIds.length);
      int eos = tok.specials().eos();
      try (LlamaDecoder decoder = LlamaDecoder.create(model.shape(), model.parameters(), engine, context)) {
        long t0 = System.nanoTime();
        float[] logits = null;
        for (int id : promptIds) {
          logits = decoder.next(id);
        }
        double prefill = (System.nanoTime() - t0) / 1e9;
        out.print(prompt);
        out.flush();
        int[] all = Arrays.copyOf(promptIds, promptIds.length + budget);
        int length = promptIds.length;
        int printed = tok.decode(promptIds).length();
        long t1 = System.nanoTime();
        int made = 0;
        boolean ended = false;
        while (made < budget) {
          int next = sampler.sample(logits);
          made++;
          if (next == eos) {
            ended = true;
            break;
          }
          all[length++] = next;
          String text = tok.decode(Arrays.copyOf(all, length));
          // hold back a character whose UTF-8 bytes are still arriving
          int safe = text.endsWith("\uFFFD") ? text.length() - 1 : text.length();
          if (safe > printed) {
            out.print(text.substring(printed, safe));
            out.flush();
            printed = safe;
          }
          if (made < budget) {
            logits = decoder.next(next);
          }
        }
        String text = tok.decode(Arrays.copyOf(all, length));
        if (text.length() > printed) {
          out.print(text.substring(printed));
        }
        out.println();
        out.flush();
        double seconds = (System.nanoTime() - t1) / 1e9;
        err.printf(Locale.ROOT, "[%d prompt tokens in %.2f s; %d new tokens in %.2f s, %.1f tokens/s; %s; %s]%n",
            promptIds.length, prefill, made, seconds, made / Math.max(seconds, 1e-9),
            ended ? "stopped at </s>" : made == maxNewTokens ? "--max-new-tokens reached" : "context full", sampler);
        err.flush();
      }
    }
    return 0;
  }

  static Backend openBackend(String name, int threads) {
    try {
      return Backends.open(name, threads);
    } catch (IllegalArgumentException e) {
      throw new UserError("--backend: " + e.getMessage());
    }
  }
}
