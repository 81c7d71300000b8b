package dev.cria.train;

import dev.cria.data.gpt.BlendedGptSamples;
import dev.cria.data.gpt.GlobalBatches;
import dev.cria.data.gpt.GptDataset;
import dev.cria.data.gpt.GptIndexCache;
import dev.cria.data.gpt.GptSamples;
import dev.cria.data.gpt.Split;
import dev.cria.data.gpt.SplitRanges;
import dev.cria.data.indexed.IndexedDataset;
import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ModelSlice;
import dev.cria.engine.parallel.ParallelDims;
import dev.cria.train.checkpoint.StartingWeights;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.compile.MemoryPlan;
import dev.cria.train.compile.PlanReport;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.ModelShape;
import dev.cria.train.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A {@link TrainConfig} checked against the data and resolved into what the loop needs: the model
 * shape, the train and valid datasets in Megatron's order and the gradient accumulation. Every
 * mistake that can be found before training (a missing prefix, a sequence longer than the model's,
 * a vocabulary smaller than the data's largest id, a global batch that the micro-batch does not
 * divide) is reported here, before any work starts.
 */
public final class TrainingSetup implements AutoCloseable {
  private final TrainConfig config;
  private final LlamaConfig model;
  private final Tokenizer tokenizer;
  private final List<IndexedDataset> data;
  private final GptSamples train;
  private final GptSamples valid;
  private final int accumulation;
  private final ParallelDims dims;
  private final List<SplitRanges> ranges;
  private final Blend blend;
  private final GptIndexCache cache;

  private TrainingSetup(
      TrainConfig config,
      LlamaConfig model,
      Tokenizer tokenizer,
      List<IndexedDataset> data,
      GptSamples train,
      GptSamples valid,
      int accumulation,
      ParallelDims dims,
      List<SplitRanges> ranges,
      Blend blend,
      GptIndexCache cache) {
    this.config = config;
    this.model = model;
    this.tokenizer = tokenizer;
    this.data = data;
    this.train = train;
    this.valid = valid;
    this.accumulation = accumulation;
    this.dims = dims;
    this.ranges = ranges;
    this.blend = blend;
    this.cache = cache;
  }

  /**
   * Refuses a global batch that the data-parallel ranks of a {@code worldSize}-rank job cannot
   * split into whole micro-batches (checked again where the ranks are known ahead, such as a
   * cluster's manifests).
   */
  public static void requireBatchFits(TrainConfig c, int worldSize) {
    TrainConfig.Trainer t = c.trainer();
    int dataParallel = parallelDims(c, worldSize).dataParallel();
    if (t.globalBatchSize() % (t.microBatchSize() * dataParallel) != 0) {
      throw new ConfigException(
          "trainer.global_batch_size "
              + t.globalBatchSize()
              + " is not a multiple of micro_batch_size x data-parallel size = "
              + t.microBatchSize()
              + " x "
              + dataParallel);
    }
  }

  /**
   * Refuses, before a job is launched on {@code worldSize} ranks of which {@code ranksPerHost}
   * share each host, a layout that cannot run: as {@link #requireBatchFits}, and a tensor-parallel
   * group that would span hosts (its collectives run in every layer, forward and back, so cria
   * keeps them in one host's shared memory).
   */
  public static void requireLayout(TrainConfig c, int worldSize, int ranksPerHost) {
    requireBatchFits(c, worldSize);
    int tp = parallelDims(c, worldSize).tensorParallel();
    if (tp > 1 && ranksPerHost % tp != 0) {
      throw new ConfigException(
          "distributed.tensor_parallel "
              + tp
              + " with "
              + ranksPerHost
              + " rank(s) on each host: a tensor-parallel group must stay on one host (its"
              + " collectives run in every layer); give each host a multiple of "
              + tp
              + " ranks");
    }
  }

  /**
   * How {@code worldSize} ranks split into data and tensor parallelism for {@code c}; refuses a
   * tensor-parallel size that does not divide the ranks.
   */
  public static ParallelDims parallelDims(TrainConfig c, int worldSize) {
    int tp = c.distributed().tensorParallel();
    ParallelDims dims;
    try {
      dims = ParallelDims.of(worldSize, tp);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("distributed.tensor_parallel: " + e.getMessage());
    }
    return dims;
  }

  /**
   * Refuses sequence parallelism over micro-batches of tokens the tensor-parallel size does not
   * divide; says that it does nothing without tensor parallelism (as NeMo does).
   */
  private static void requireSequenceSplits(
      TrainConfig c, ParallelDims dims, int seq, Consumer<String> log) {
    if (!c.distributed().sequenceParallel()) {
      return;
    }
    int tp = dims.tensorParallel();
    if (tp == 1) {
      log.accept(
          "distributed.sequence_parallel: no effect without tensor parallelism"
              + " (distributed.tensor_parallel 1)");
      return;
    }
    long tokens = (long) c.trainer().microBatchSize() * seq;
    if (tokens % tp != 0) {
      throw new ConfigException(
          "distributed.sequence_parallel: the tensor-parallel size "
              + tp
              + " does not divide the micro-batch's "
              + tokens
              + " tokens (micro_batch_size "
              + c.trainer().microBatchSize()
              + " x seq_length "
              + seq
              + ")");
    }
  }

  /** Refuses a tensor-parallel size that does not divide what it cuts in {@code shape}. */
  private static void requireSliceFits(ParallelDims dims, LlamaConfig shape) {
    try {
      new ModelSlice(dims.tensorParallel(), 0).requireFits(shape);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("distributed.tensor_parallel: " + e.getMessage());
    }
  }

  /**
   * The checks of {@link #prepare} that need no data, which a plan makes too: the model's slices,
   * the sequence length against the model's context, sequence parallelism. Returns the sequence
   * length.
   */
  private static int requireRunnable(
      TrainConfig c, LlamaConfig shape, ParallelDims dims, Consumer<String> log) {
    requireSliceFits(dims, shape);
    int seq = seqLength(c, shape);
    if (seq < 2) {
      throw new ConfigException("data.seq_length must be at least 2, got " + seq);
    }
    if (seq > shape.maxSeqLen()) {
      throw new ConfigException(
          "data.seq_length "
              + seq
              + " is longer than the model's max_position_embeddings "
              + shape.maxSeqLen()
              + " (preset "
              + c.model().preset()
              + "); shorten it or set model.max_position_embeddings");
    }
    requireSequenceSplits(c, dims, seq, log);
    return seq;
  }

  /** Checks {@code c} and opens its data; {@code log} gets one line per thing done. */
  public static TrainingSetup prepare(TrainConfig c, int worldSize, Consumer<String> log)
      throws IOException {
    return prepare(c, worldSize, log, true);
  }

  /**
   * {@link #prepare} for one process that evaluates a split it {@link #open}s: the train and valid
   * sample indices are not built ({@link #train()} and {@link #valid()} are null), which for a long
   * run's train split can take minutes and gigabytes.
   */
  public static TrainingSetup prepareToEvaluate(TrainConfig c, Consumer<String> log)
      throws IOException {
    return prepare(c, 1, log, false);
  }

  private static TrainingSetup prepare(
      TrainConfig c, int worldSize, Consumer<String> log, boolean splits) throws IOException {
    TrainConfig.Trainer t = c.trainer();
    ParallelDims dims = parallelDims(c, worldSize);
    requireBatchFits(c, worldSize);
    int accumulation = t.globalBatchSize() / (t.microBatchSize() * dims.dataParallel());
    Tokenizer tokenizer = tokenizerOf(c);
    LlamaConfig shape = ModelShape.of(c.model(), tokenizer);
    int seq = requireRunnable(c, shape, dims, log);
    Blend blend = Blend.parse(c.data().dataPrefix());
    List<IndexedDataset> opened = new ArrayList<>();
    try {
      List<SplitRanges> ranges = new ArrayList<>();
      for (Path prefix : blend.prefixes()) {
        for (String ext : new String[] {".idx", ".bin"}) {
          Path file = Path.of(prefix + ext);
          if (!Files.isRegularFile(file)) {
            throw new ConfigException(
                "data.data_prefix: " + file + " does not exist" + prefixHint(prefix));
          }
        }
        IndexedDataset data = IndexedDataset.open(prefix);
        opened.add(data);
        SplitRanges r;
        try {
          r = SplitRanges.of(c.data().split(), data.sequenceCount());
        } catch (IllegalArgumentException e) {
          throw new ConfigException("data.split: " + e.getMessage());
        }
        if (!r.present(Split.TRAIN)) {
          throw new ConfigException(
              "data.split '"
                  + c.data().split()
                  + "' leaves no training documents in "
                  + prefix
                  + " ("
                  + data.sequenceCount()
                  + " documents)");
        }
        ranges.add(r);
        long maxId = data.maxToken(0, data.sequenceCount());
        if (maxId >= shape.vocabSize()) {
          throw new ConfigException(
              prefix
                  + " holds token id "
                  + maxId
                  + " but the model's vocabulary has "
                  + shape.vocabSize()
                  + " entries"
                  + (tokenizer == null
                      ? " (set model.tokenizer to the tokenizer that" + " prepared the data)"
                      : " ("
                          + c.model().tokenizer()
                          + "); was the data prepared with another tokenizer?"));
        }
      }
      GptIndexCache cache =
          new GptIndexCache(
              c.data().indexCacheDir() != null
                  ? Path.of(c.data().indexCacheDir())
                  : Path.of(c.runDir(), "index_cache"));
      GptSamples train =
          splits
              ? samples(
                  opened, ranges, blend, Split.TRAIN, c.trainSamples(), seq, t.seed(), cache, log)
              : null;
      GptSamples valid = null;
      if (splits && t.limitValBatches() > 0) {
        if (ranges.stream().allMatch(r -> r.present(Split.VALID))) {
          valid =
              samples(
                  opened, ranges, blend, Split.VALID, c.validSamples(), seq, t.seed(), cache, log);
        } else {
          log.accept("no validation: split '" + c.data().split() + "' leaves no valid documents");
        }
      }
      return new TrainingSetup(
          c, shape, tokenizer, opened, train, valid, accumulation, dims, ranges, blend, cache);
    } catch (IOException | RuntimeException e) {
      opened.forEach(IndexedDataset::close);
      throw e;
    }
  }

  /**
   * {@code samples} samples of {@code split} in Megatron's order (for evaluation), from the data
   * this setup opened; null when the split has no documents.
   */
  public GptSamples open(Split split, long samples, Consumer<String> log) throws IOException {
    if (!ranges.stream().allMatch(r -> r.present(split))) {
      return null;
    }
    return samples(
        data, ranges, blend, split, samples, seqLength(), config.trainer().seed(), cache, log);
  }

  /** One dataset's split, or Megatron's blend of every dataset's split. */
  private static GptSamples samples(
      List<IndexedDataset> data,
      List<SplitRanges> ranges,
      Blend blend,
      Split split,
      long samples,
      int seq,
      long seed,
      GptIndexCache cache,
      Consumer<String> log)
      throws IOException {
    if (blend.weights() == null) {
      return open(data.getFirst(), ranges.getFirst(), split, samples, seq, seed, cache, log);
    }
    long[] sizes = BlendedGptSamples.partSizes(blend.weights(), samples, BlendedGptSamples.SURPLUS);
    long size =
        java.util.Arrays.stream(BlendedGptSamples.partSizes(blend.weights(), samples, 0)).sum();
    List<GptDataset> parts = new ArrayList<>();
    for (int d = 0; d < data.size(); d++) {
      parts.add(open(data.get(d), ranges.get(d), split, sizes[d], seq, seed, cache, log));
    }
    BlendedGptSamples blended = BlendedGptSamples.of(parts, blend.weights(), size);
    log.accept(
        String.format(
            Locale.ROOT,
            "%s: blend of %d datasets, weights %s, %,d samples",
            split.label(),
            parts.size(),
            java.util.Arrays.toString(blend.weights()),
            blended.size()));
    return blended;
  }

  /**
   * The files and directories a run of {@code c} reads that its config names, as config key and
   * path pairs in the config's order: each data prefix, the tokenizer, the index cache directory
   * (when set). What a job on other machines must be able to reach.
   */
  public static List<Map.Entry<String, String>> pathsRead(TrainConfig c) {
    List<Map.Entry<String, String>> paths = new ArrayList<>();
    for (Path prefix : Blend.parse(c.data().dataPrefix()).prefixes()) {
      paths.add(Map.entry("data.data_prefix", prefix.toString()));
    }
    if (c.model().tokenizer() != null && !c.model().tokenizer().isBlank()) {
      paths.add(Map.entry("model.tokenizer", c.model().tokenizer()));
    }
    if (c.data().indexCacheDir() != null) {
      paths.add(Map.entry("data.index_cache_dir", c.data().indexCacheDir()));
    }
    return paths;
  }

  private static GptDataset open(
      IndexedDataset data,
      SplitRanges ranges,
      Split split,
      long samples,
      int seq,
      long seed,
      GptIndexCache cache,
      Consumer<String> log)
      throws IOException {
    long t0 = System.nanoTime();
    GptDataset ds = GptDataset.open(data, ranges, split, samples, seq, seed, cache);
    log.accept(
        String.format(
            "%s: documents %d..%d, %,d samples of %d+1 tokens, %d epoch(s)%s, indices %s (%.0f ms)",
            split.label(),
            ranges.begin(split),
            ranges.end(split),
            ds.size(),
            seq,
            ds.indices().epochs(),
            ds.indices().separateFinalEpoch() ? " (last shuffled apart)" : "",
            ds.fromCache() ? "from cache" : "built",
            (System.nanoTime() - t0) / 1e6));
    return ds;
  }

  /**
   * The engine backend called {@code name} with {@code threads} threads (0: one per core); an
   * unknown name or a backend that cannot run here is a config error naming the choices.
   */
  public static Backend openBackend(String name, int threads) {
    try {
      return Backends.open(name, threadsFor(threads, System.getenv()));
    } catch (IllegalArgumentException e) {
      throw new ConfigException("trainer.backend: " + e.getMessage());
    }
  }

  /**
   * The compute threads of this rank: {@code configured}, or when it is 0 (all cores) this host's
   * cores shared among the ranks started on it (by mpirun, {@code OMPI_COMM_WORLD_LOCAL_SIZE}, e.g.
   * the slots of an MPIJob's worker pod; by {@code cria train --nproc}, {@code
   * CRIA_LOCAL_WORLD_SIZE}), so that they do not oversubscribe it.
   */
  static int threadsFor(int configured, java.util.Map<String, String> env) {
    if (configured > 0) {
      return configured;
    }
    int cores = Runtime.getRuntime().availableProcessors();
    int local = MemoryPlan.Job.ranksOnThisHost(env, Integer.MAX_VALUE);
    return local > 1 ? Math.max(1, cores / local) : 0;
  }

  /** The tokenizer the config names, or null; one that cannot be read is a config error. */
  private static Tokenizer tokenizerOf(TrainConfig c) {
    if (c.model().tokenizer() == null) {
      return null;
    }
    try {
      return Tokenizers.load(Path.of(c.model().tokenizer()));
    } catch (RuntimeException e) {
      throw new ConfigException("model.tokenizer: " + e.getMessage(), e);
    }
  }

  /**
   * The memory plan of one rank of a {@code worldSize}-rank job, {@code ranksPerHost} of them on
   * each host like this one, for config {@code c}, without allocating anything.
   */
  public static MemoryPlan memoryPlan(TrainConfig c, int worldSize, int ranksPerHost) {
    return memoryPlan(c, MemoryPlan.Job.onThisMachine(worldSize, ranksPerHost));
  }

  /**
   * The memory plan of one rank of {@code job} for config {@code c}, refusing first what the job
   * would refuse without reading its data (a global batch its ranks cannot split, the model's
   * slices, the sequence length against the model's context, sequence parallelism), so that a plan
   * is never made of a run that cannot start. Where each host's ranks are known ahead (cria
   * compile, a cluster's manifests), {@link #requireLayout} checks the hosts too.
   */
  public static MemoryPlan memoryPlan(TrainConfig c, MemoryPlan.Job job) {
    requireBatchFits(c, job.worldSize());
    LlamaConfig shape = ModelShape.of(c.model(), tokenizerOf(c));
    requireRunnable(c, shape, parallelDims(c, job.worldSize()), line -> {});
    return MemoryPlan.of(MemoryPlan.Settings.of(c, shape), job);
  }

  /**
   * Refuses, before anything is written, a run whose ranks will not fit in their share of this
   * machine's memory, with the plan's table (what each rank holds) and what would fit.
   */
  public static void requireTrainingMemory(TrainConfig c, int worldSize, int ranksPerHost) {
    MemoryPlan plan = memoryPlan(c, worldSize, ranksPerHost);
    if (!plan.fits()) {
      throw new ConfigException(PlanReport.refusal(plan));
    }
    String heap = plan.heapShortfall(Runtime.getRuntime().maxMemory());
    if (heap != null) {
      throw new ConfigException(heap);
    }
  }

  /**
   * What a data prefix that names no dataset most likely meant: the prefix without a {@code .bin}
   * or {@code .idx} it was given with; the dataset cria prepare made from it ({@code
   * PREFIX_text_document}, or another key's); else how to make one.
   */
  static String prefixHint(Path prefix) {
    String p = prefix.toString();
    for (String ext : new String[] {".bin", ".idx"}) {
      if (p.endsWith(ext) && Files.isRegularFile(Path.of(p.substring(0, p.length() - 3) + "idx"))) {
        return " (a data prefix names a dataset without its extension: "
            + p.substring(0, p.length() - ext.length())
            + ")";
      }
    }
    Path dir = prefix.toAbsolutePath().getParent();
    String name = prefix.getFileName() == null ? "" : prefix.getFileName().toString();
    if (dir != null && Files.isDirectory(dir)) {
      try (java.util.stream.Stream<Path> s = Files.list(dir)) {
        List<String> made =
            s.map(f -> f.getFileName().toString())
                .filter(f -> f.startsWith(name + "_") && f.endsWith("_document.idx"))
                .sorted()
                .map(f -> f.substring(0, f.length() - ".idx".length()))
                .toList();
        if (!made.isEmpty()) {
          Path parent = prefix.getParent();
          return " (cria prepare --output-prefix "
              + prefix
              + " writes "
              + String.join(", ", made)
              + ": the data prefix is "
              + (parent == null ? made.getFirst() : parent.resolve(made.getFirst()))
              + ")";
        }
      } catch (java.io.IOException e) {
        // no hint
      }
    }
    if (!prefix.isAbsolute()) { // a run saved before paths were saved absolute, read elsewhere
      return " (a relative path, read from "
          + Path.of("").toAbsolutePath()
          + ": run from the directory it is relative to, give --data-prefix, or make it with"
          + " cria prepare)";
    }
    return " (make it with cria prepare)";
  }

  /**
   * Refuses, before anything is written, starting weights that do not fit the model: a checkpoint
   * the run would resume, or an {@code --init-from} model, of another shape ({@link
   * StartingWeights#requireFits}). The run directory's own checkpoints are not asked when {@code
   * overwrite} replaces them.
   */
  public static void requireStartFits(TrainConfig c, TrainStart start, boolean overwrite)
      throws IOException {
    TrainStart asked =
        overwrite ? new TrainStart(false, start.resumeFrom(), start.initFrom(), null) : start;
    StartingWeights.requireFits(
        asked, Path.of(c.runDir()), ModelShape.of(c.model(), tokenizerOf(c)));
  }

  /**
   * Which samples form each data-parallel rank's micro-batches of a global batch (the ranks of a
   * tensor-parallel group read the same ones).
   */
  public GlobalBatches batches() {
    return new GlobalBatches(
        config.trainer().globalBatchSize(), config.trainer().microBatchSize(), dims.dataParallel());
  }

  /** How the job's ranks split into data and tensor parallelism. */
  public ParallelDims dims() {
    return dims;
  }

  public TrainConfig config() {
    return config;
  }

  public LlamaConfig model() {
    return model;
  }

  /** The tokenizer, or null when the config names none. */
  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /** The train split; null in a setup {@link #prepareToEvaluate prepared to evaluate}. */
  public GptSamples train() {
    return train;
  }

  /** The valid split; null when there is no validation, or to evaluate. */
  public GptSamples valid() {
    return valid;
  }

  /** Micro-batches per optimizer step on each rank. */
  public int accumulation() {
    return accumulation;
  }

  /** All the job's ranks: data-parallel times tensor-parallel. */
  public int worldSize() {
    return dims.worldSize();
  }

  /** Tokens per sample: {@code data.seq_length}, or the model's context when it is 0. */
  public int seqLength() {
    return seqLength(config, model);
  }

  private static int seqLength(TrainConfig c, LlamaConfig shape) {
    return c.data().seqLength() == 0 ? shape.maxSeqLen() : c.data().seqLength();
  }

  @Override
  public void close() {
    data.forEach(IndexedDataset::close);
  }
}
