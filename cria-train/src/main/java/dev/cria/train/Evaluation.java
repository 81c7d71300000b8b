package dev.cria.train;

import dev.cria.data.gpt.GptSamples;
import dev.cria.data.gpt.Split;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.model.LlamaModel;
import dev.cria.train.checkpoint.TrainedModel;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import java.io.IOException;
import java.util.function.Consumer;

/**
 * The mean loss of a trained model on the first global batches of a split, computed as the
 * trainer's validation computes it (the same samples, micro-batches and order of summation), so
 * that evaluating a checkpoint on the valid split repeats its run's {@code val_loss}.
 */
public final class Evaluation {
  /**
   * The outcome.
   *
   * @param loss mean cross-entropy over the micro-batches, in nats
   * @param samplesBuilt size the split's sample index was built with (Megatron's order depends on it)
   */
  public record Result(double loss, Split split, int batches, int globalBatch, int microBatch, int seqLength,
      long tokens, long samplesBuilt, double seconds) {
    public double perplexity() {
      return Math.exp(loss);
    }
  }

  private Evaluation() {}

  /**
   * Evaluates {@code model} on {@code batches} global batches of {@code split} of the data that
   * {@code config} names (the model's run config, its data prefix possibly replaced).
   *
   * @param batches global batches, each {@code global_batch_size} samples
   * @param backendName the backend to run on (null: the run's {@code trainer.backend})
   * @param threads compute threads (0: all cores)
   */
  public static Result run(TrainedModel model, TrainConfig config, Split split, int batches, String backendName,
      int threads, Consumer<String> log) throws IOException {
    if (batches < 1) {
      throw new ConfigException("--batches must be at least 1, got " + batches);
    }
    TrainConfig.Trainer t = config.trainer();
    long t0 = System.nanoTime();
    try (TrainingSetup setup = TrainingSetup.prepare(config, 1, log)) {
      if (!setup.model().equals(model.shape())) {
        throw new ConfigException("the data's setup gives model " + setup.model() + " but the checkpoint holds "
            + model.shape());
      }
      long wanted = (long) batches * t.globalBatchSize();
      // the valid split is built as the run built it, so its order (and val_loss) is the run's
      long built = split == Split.VALID ? Math.max(wanted, TrainingSetup.validSamples(config)) : wanted;
      GptSamples samples = setup.open(split, built, log);
      if (samples == null) {
        throw new ConfigException("data.split '" + config.data().split() + "' leaves no " + split.label()
            + " documents");
      }
      int micro = t.microBatchSize();
      int seq = setup.seqLength();
      int perBatch = setup.accumulation();
      int[] window = new int[seq + 1];
      int[] tokens = new int[micro * seq];
      int[] targets = new int[micro * seq];
      try (Backend backend = Backends.open(backendName != null ? backendName : t.backend(), threads);
          LlamaModel llama = new LlamaModel(model.shape(), backend, micro, seq, false)) {
        llama.parameters().copyFrom(model.parameters(), 0, 0, model.parameters().length());
        double sum = 0;
        int count = 0;
        for (int b = 0; b < batches; b++) {
          for (int m = 0; m < perBatch; m++) {
            long first = (long) b * t.globalBatchSize() + (long) m * micro;
            for (int i = 0; i < micro; i++) {
              samples.sample(first + i, window, 0);
              System.arraycopy(window, 0, tokens, i * seq, seq);
              System.arraycopy(window, 1, targets, i * seq, seq);
            }
            sum += llama.forward(tokens, targets, 0f);
            count++;
          }
        }
        return new Result(sum / count, split, batches, t.globalBatchSize(), micro, seq,
            (long) batches * t.globalBatchSize() * seq, built, (System.nanoTime() - t0) / 1e9);
      }
    }
  }
}
