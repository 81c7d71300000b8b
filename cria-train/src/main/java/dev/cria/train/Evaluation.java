package dev.cria.train;

import dev.cria.data.gpt.GlobalBatches;
import dev.cria.data.gpt.GptSamples;
import dev.cria.data.gpt.MicroBatch;
import dev.cria.data.gpt.Split;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.tensor.View;
import dev.cria.train.checkpoint.Checkpoints;
import dev.cria.train.checkpoint.TrainedModel;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

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
   * @param samplesBuilt size the split's sample index was built with (Megatron's order depends on
   *     it)
   */
  public record Result(
      double loss,
      Split split,
      int batches,
      int globalBatch,
      int microBatch,
      int seqLength,
      long tokens,
      long samplesBuilt,
      double seconds) {
    public double perplexity() {
      return Math.exp(loss);
    }

    /**
     * One line of JSON: the loss and everything needed to rebuild the batches ({@code cria eval
     * --json}).
     */
    public String toJson(TrainedModel model, TrainConfig config) {
      ObjectNode o = JsonMapper.builder().build().createObjectNode();
      o.put("loss", loss);
      o.put("perplexity", perplexity());
      o.put("step", model.checkpoint().step());
      o.put("checkpoint", model.source().toString());
      o.put("split", split.label());
      o.put("split_weights", config.data().split());
      o.put("batches", batches);
      o.put("global_batch_size", globalBatch);
      o.put("micro_batch_size", microBatch);
      o.put("seq_length", seqLength);
      o.put("seed", config.trainer().seed());
      o.put("samples_built", samplesBuilt);
      o.put("tokens", tokens);
      var prefixes = o.putArray("data_prefix");
      config.data().dataPrefix().forEach(prefixes::add);
      return o.toString();
    }
  }

  private Evaluation() {}

  /**
   * The mean loss of {@code model} over rank {@code rank}'s micro-batches of the first {@code
   * batches} global batches of {@code samples}: what the trainer's validation computes on every
   * rank (then averages over the ranks), and what {@code cria eval} computes on one, in the same
   * order of summation, so that evaluating a checkpoint repeats its run's {@code val_loss}. {@code
   * progress} hears the global batches done after each; {@code stop} is asked before the next (by
   * every rank together): true ends it with NaN.
   */
  static double meanLoss(
      LlamaModel model,
      GptSamples samples,
      GlobalBatches order,
      MicroBatch micro,
      int batches,
      int rank,
      IntConsumer progress,
      BooleanSupplier stop) {
    double sum = 0;
    int count = 0;
    for (int b = 0; b < batches; b++) {
      for (int m = 0; m < order.microStepsPerBatch(); m++) {
        micro.load(samples, order.firstSample(order.batchStart(b), m, rank));
        sum += model.forward(micro.tokens(), micro.targets(), 0f);
        count++;
      }
      progress.accept(b + 1);
      if (b + 1 < batches && stop.getAsBoolean()) {
        return Double.NaN;
      }
    }
    return sum / count;
  }

  /**
   * The config to evaluate a trained model with: its run's, reading the data from {@code
   * dataPrefix} instead when given, with the checkpoint's copy of the tokenizer, and the sample
   * indices cached in the run's own {@code index_cache} when the checkpoint sits in its run
   * directory (the config's {@code run_dir} may be relative to wherever the run was started, or
   * gone), else in the temporary directory.
   *
   * @throws ConfigException for a Hugging Face model (it has no data config) or a bad prefix
   */
  public static TrainConfig configFor(TrainedModel model, List<String> dataPrefix) {
    if (model.config() == null) {
      throw new ConfigException(
          model.source()
              + " is a Hugging Face directory; cria eval needs a cria checkpoint"
              + " (its config says how the data is split and batched)");
    }
    ObjectNode tree = TrainConfigFile.toTree(model.config());
    if (dataPrefix != null) {
      TrainConfigFile.set(tree, "data.data_prefix", dataPrefix);
    }
    if (model.tokenizerPath() != null) {
      TrainConfigFile.set(tree, "model.tokenizer", model.tokenizerPath().toString());
    }
    if (model.config().data().indexCacheDir() == null) {
      Path checkpoints = model.source().toAbsolutePath().getParent();
      Path cache =
          checkpoints != null && checkpoints.getFileName().toString().equals(Checkpoints.DIR)
              ? checkpoints.getParent().resolve("index_cache")
              : Path.of(System.getProperty("java.io.tmpdir"), "cria-index-cache");
      TrainConfigFile.set(tree, "data.index_cache_dir", cache.toString());
    }
    return TrainConfigFile.bind(tree, model.source().resolve("config.yaml") + " and flags");
  }

  /**
   * {@code c} as one process runs it: the whole model, however many ranks shared it in training.
   */
  private static TrainConfig onOneProcess(TrainConfig c) {
    TrainConfig.Distributed d = c.distributed();
    return new TrainConfig(
        c.runDir(),
        c.model(),
        c.data(),
        c.trainer(),
        c.optim(),
        c.checkpoint(),
        new TrainConfig.Distributed(
            d.zeroStage(), d.bucketCapMb(), 1, false, d.heartbeatSeconds()));
  }

  /**
   * Evaluates {@code model} on {@code batches} global batches of {@code split} of the data that
   * {@code config} names (the model's run config, its data prefix possibly replaced).
   *
   * @param batches global batches, each {@code global_batch_size} samples
   * @param backendName the backend to run on (null: the run's {@code trainer.backend})
   * @param threads compute threads (0: all cores)
   * @param log a line per thing done (the split's samples and epochs)
   * @param progress the global batches done, after each (a long evaluation shows how far it is)
   */
  public static Result run(
      TrainedModel model,
      TrainConfig config,
      Split split,
      int batches,
      String backendName,
      int threads,
      Consumer<String> log,
      IntConsumer progress)
      throws IOException {
    if (batches < 1) {
      throw new ConfigException("--batches must be at least 1, got " + batches);
    }
    TrainConfig.Trainer t = config.trainer();
    long t0 = System.nanoTime();
    try (TrainingSetup setup = TrainingSetup.prepareToEvaluate(onOneProcess(config), log)) {
      if (!setup.model().equals(model.shape())) {
        throw new ConfigException(
            "the data's setup gives model "
                + setup.model()
                + " but the checkpoint holds "
                + model.shape());
      }
      long wanted = (long) batches * t.globalBatchSize();
      // the valid split is built as the run built it, so its order (and val_loss) is the run's
      long built = split == Split.VALID ? Math.max(wanted, config.validSamples()) : wanted;
      GptSamples samples = setup.open(split, built, log);
      if (samples == null) {
        throw new ConfigException(
            "data.split '" + config.data().split() + "' leaves no " + split.label() + " documents");
      }
      int micro = t.microBatchSize();
      int seq = setup.seqLength();
      GlobalBatches order = setup.batches();
      MicroBatch batch = new MicroBatch(micro, seq);
      try (Backend backend =
              TrainingSetup.openBackend(backendName != null ? backendName : t.backend(), threads);
          LlamaModel llama =
              new LlamaModel(model.shape(), backend, micro, seq, false, t.precision())) {
        llama
            .buffers()
            .copy(
                View.of(model.parameters(), 0),
                View.of(llama.parameters(), 0),
                model.parameters().length());
        return new Result(
            meanLoss(llama, samples, order, batch, batches, 0, progress, () -> false),
            split,
            batches,
            t.globalBatchSize(),
            micro,
            seq,
            (long) batches * t.globalBatchSize() * seq,
            built,
            (System.nanoTime() - t0) / 1e9);
      }
    }
  }
}
