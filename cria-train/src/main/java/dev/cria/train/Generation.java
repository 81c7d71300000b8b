package dev.cria.train;

import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.infer.LlamaDecoder;
import dev.cria.engine.infer.Sampler;
import dev.cria.train.checkpoint.TrainedModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Text from a trained model: the prompt is encoded (with {@code <s>} when the tokenizer has one),
 * run through the decoder's key/value cache, then tokens are sampled one at a time until {@code
 * </s>}, the token budget or a full context. The text is streamed as it comes; a character whose
 * UTF-8 bytes are still arriving is held back.
 */
public final class Generation {
  /** Why generation stopped. */
  public enum Stop {
    END_OF_TEXT,
    TOKEN_BUDGET,
    CONTEXT_FULL
  }

  /**
   * What to generate.
   *
   * @param source a run directory, a {@code step-N} checkpoint or a Hugging Face directory
   * @param tokenizer a tokenizer to use instead of the checkpoint's, or null
   * @param backend the engine backend's name ({@code auto}: the best available)
   * @param threads compute threads (0: all cores)
   */
  public record Request(
      Path source,
      Path tokenizer,
      String prompt,
      int maxNewTokens,
      Sampler sampler,
      String backend,
      int threads) {
    public Request {
      if (maxNewTokens < 1) {
        throw new IllegalArgumentException(
            "--max-new-tokens must be at least 1, got " + maxNewTokens);
      }
    }
  }

  /** What it took. */
  public record Result(
      int promptTokens, double prefillSeconds, int newTokens, double seconds, Stop stop) {
    public double tokensPerSecond() {
      return newTokens / Math.max(seconds, 1e-9);
    }
  }

  private Generation() {}

  /**
   * Generates as {@code r} says, handing the text to {@code text} piece by piece (the prompt first)
   * and loading warnings to {@code warnings}.
   *
   * @throws IllegalArgumentException when the tokenizer does not fit the model, the prompt does not
   *     fit the context, or the backend is unknown
   */
  public static Result run(Request r, Consumer<String> text, Consumer<String> warnings)
      throws IOException {
    try (Backend backend = Backends.open(r.backend(), r.threads());
        TrainedModel model = TrainedModel.load(r.source(), warnings)) {
      Tokenizer tok = r.tokenizer() != null ? Tokenizers.load(r.tokenizer()) : model.tokenizer();
      if (tok == null) {
        throw new IllegalArgumentException(
            model.source()
                + " holds no tokenizer (the run named no model.tokenizer);"
                + " pass --tokenizer");
      }
      if (tok.vocabSize() != model.shape().vocabSize()) {
        throw new IllegalArgumentException(
            (r.tokenizer() != null ? "--tokenizer " + r.tokenizer() : "the checkpoint's tokenizer")
                + " has "
                + tok.vocabSize()
                + " tokens, the model "
                + model.shape().vocabSize()
                + ": give the tokenizer the model was trained with");
      }
      int[] promptIds = tok.encode(r.prompt(), tok.specials().bos() >= 0, false);
      if (promptIds.length == 0) {
        throw new IllegalArgumentException(
            "the tokenizer has no <s> to start from: give a --prompt");
      }
      int context = model.shape().maxSeqLen();
      if (promptIds.length >= context) {
        throw new IllegalArgumentException(
            "the prompt is "
                + promptIds.length
                + " tokens; the model's context is "
                + context
                + ", so a prompt has at most "
                + (context - 1)
                + " (one new token needs a place)");
      }
      int budget = Math.min(r.maxNewTokens(), context - promptIds.length);
      int eos = tok.specials().eos();
      try (LlamaDecoder decoder =
          LlamaDecoder.create(model.shape(), model.parameters(), backend, context)) {
        long t0 = System.nanoTime();
        float[] logits = null;
        for (int id : promptIds) {
          logits = decoder.next(id);
        }
        double prefill = (System.nanoTime() - t0) / 1e9;
        text.accept(r.prompt());
        int[] all = Arrays.copyOf(promptIds, promptIds.length + budget);
        int length = promptIds.length;
        int printed = tok.decode(promptIds).length();
        long t1 = System.nanoTime();
        int made = 0;
        boolean ended = false;
        while (made < budget) {
          int next = r.sampler().sample(logits);
          made++;
          if (next == eos) {
            ended = true;
            break;
          }
          all[length++] = next;
          String decoded = tok.decode(Arrays.copyOf(all, length));
          int safe = decoded.endsWith("\uFFFD") ? decoded.length() - 1 : decoded.length();
          if (safe > printed) {
            text.accept(decoded.substring(printed, safe));
            printed = safe;
          }
          if (made < budget) {
            logits = decoder.next(next);
          }
        }
        String decoded = tok.decode(Arrays.copyOf(all, length));
        if (decoded.length() > printed) {
          text.accept(decoded.substring(printed));
        }
        double seconds = (System.nanoTime() - t1) / 1e9;
        Stop stop =
            ended
                ? Stop.END_OF_TEXT
                : made == r.maxNewTokens() ? Stop.TOKEN_BUDGET : Stop.CONTEXT_FULL;
        return new Result(promptIds.length, prefill, made, seconds, stop);
      }
    }
  }
}
