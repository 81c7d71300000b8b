package dev.cria.train.compile;

import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ModelSlice;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.model.Precision;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.tensor.DType;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.distributed.Collectives;
import dev.cria.train.distributed.GradientBuckets;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What each rank of a run will hold in memory, by kind, computed from the shape and the settings
 * without allocating anything (so any preset, up to {@code llama2-70b}, can be planned anywhere):
 * {@code cria compile}'s table, and the check {@code cria train} makes before any work.
 *
 * <p>The tensors are exact (they are what the run allocates); the runtime's own share is a measured
 * constant ({@link #RUNTIME_BYTES}).
 */
public final class MemoryPlan {
  /**
   * The JVM's own memory in a training process, beyond the tensors: heap (cria's launchers run it
   * with {@code -XX:+UseSerialGC -Xmn64m}; the tensors are off-heap and the heap's live set is tens
   * of MB), code, metaspace, thread stacks and the kernels' per-thread scratch. Measured as what
   * {@code cria train} holds after a step ({@link dev.cria.train.metrics.ProcessMemory#held()})
   * minus its off-heap tensors: 165-174 MB for {@code tiny} (a maximum heap of 1 or 6 GB alike),
   * 160-170 MB for {@code small}, JDK 25, 2 threads. (With G1 it was 185-410 MB, varying run to run
   * with the JIT's warm-up garbage.) The sample indices, also on the heap, are counted apart
   * ({@link Kind#INDICES}), as a large corpus's grow with the run.
   */
  public static final long RUNTIME_BYTES = 170_000_000L;

  /**
   * Heap bytes the sample indices take per sample: Megatron's sample index (two {@code long}s a
   * sample) and shuffle index (one), as cria holds them. The document index adds 4 bytes per
   * document and epoch, which only the data can tell.
   */
  public static final long INDEX_BYTES_PER_SAMPLE = 3 * Long.BYTES;

  /** What the heap needs besides the sample indices (its live set is tens of MB): a margin. */
  static final long HEAP_WORKING_SET = 256L << 20;

  /** Set by cria's local launcher for its workers: how many of them share this machine. */
  public static final String LOCAL_WORLD_SIZE = "CRIA_LOCAL_WORLD_SIZE";

  /** What memory holds. */
  public enum Kind {
    PARAMETERS("parameters"),
    GRADIENTS("gradients"),
    /** Mixed precision only: the bf16 weights and one product's bf16 inputs. */
    BF16_COPIES("bf16 copies (weights, a product's inputs)"),
    OPTIMIZER("AdamW moments"),
    ACTIVATIONS("activations"),
    COMMUNICATION("communication buffers"),
    SNAPSHOT("background-save copy"),
    /** Tensor parallelism and ZeRO-3: rank 0 gathers a whole tensor and its moments at a time. */
    WHOLE_MODEL("checkpoint gathering"),
    INDICES("sample indices"),
    RUNTIME("runtime");

    private final String label;

    Kind(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }

    /** The name in {@code --json}: parameters, gradients, optimizer, ... */
    public String key() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * The run's settings that decide its memory.
   *
   * @param bucketCapBytes {@code distributed.bucket_cap_mb} in bytes (0: a bucket per layer)
   * @param indexSamples the samples the run asks of its splits (train and valid), whose indices
   *     every rank holds
   * @param precision what the model computes in ({@link Kind#BF16_COPIES} in mixed precision)
   * @param tensorParallel ranks sharing one model, each holding a slice of every layer
   */
  public record Settings(
      LlamaConfig shape,
      int microBatch,
      int seqLength,
      int zeroStage,
      long bucketCapBytes,
      boolean recompute,
      boolean asyncSave,
      long indexSamples,
      Precision precision,
      int tensorParallel,
      boolean sequenceParallel) {
    public Settings {
      if (microBatch < 1
          || seqLength < 1
          || zeroStage < 1
          || zeroStage > 3
          || indexSamples < 0
          || tensorParallel < 1) {
        throw new IllegalArgumentException(
            "micro-batch "
                + microBatch
                + ", sequence "
                + seqLength
                + ", ZeRO "
                + zeroStage
                + ", tensor parallelism "
                + tensorParallel);
      }
      java.util.Objects.requireNonNull(precision, "precision");
    }

    /** The settings of a run whose every rank holds the whole model. */
    public Settings(
        LlamaConfig shape,
        int microBatch,
        int seqLength,
        int zeroStage,
        long bucketCapBytes,
        boolean recompute,
        boolean asyncSave,
        long indexSamples,
        Precision precision) {
      this(
          shape,
          microBatch,
          seqLength,
          zeroStage,
          bucketCapBytes,
          recompute,
          asyncSave,
          indexSamples,
          precision,
          1,
          false);
    }

    /** The settings of config {@code c} for model {@code shape}. */
    public static Settings of(TrainConfig c, LlamaConfig shape) {
      int seq = c.data().seqLength() == 0 ? shape.maxSeqLen() : c.data().seqLength();
      return new Settings(
          shape,
          c.trainer().microBatchSize(),
          Math.min(seq, shape.maxSeqLen()),
          c.distributed().zeroStage(),
          c.distributed().bucketCapBytes(),
          c.model().recompute(),
          c.checkpoint().asyncSave(),
          c.trainSamples() + (c.trainer().limitValBatches() > 0 ? c.validSamples() : 0),
          c.trainer().precision(),
          c.distributed().tensorParallel(),
          c.distributed().sequenceParallel());
    }

    Settings withMicroBatch(int m) {
      return copy(m, recompute, zeroStage, tensorParallel, sequenceParallel);
    }

    Settings withRecompute() {
      return copy(microBatch, true, zeroStage, tensorParallel, sequenceParallel);
    }

    Settings withTensorParallel(int tp) {
      return copy(microBatch, recompute, zeroStage, tp, sequenceParallel);
    }

    Settings withSequenceParallel(boolean split) {
      return copy(microBatch, recompute, zeroStage, tensorParallel, split);
    }

    Settings withZero(int stage) {
      return copy(microBatch, recompute, stage, tensorParallel, sequenceParallel);
    }

    /** These settings with the ones a suggestion changes replaced. */
    private Settings copy(
        int microBatch, boolean recompute, int zeroStage, int tensorParallel, boolean split) {
      return new Settings(
          shape,
          microBatch,
          seqLength,
          zeroStage,
          bucketCapBytes,
          recompute,
          asyncSave,
          indexSamples,
          precision,
          tensorParallel,
          split);
    }

    /** Whether the residual stream is split: asked for, with tensor parallelism. */
    boolean splitsSequence() {
      return sequenceParallel && tensorParallel > 1;
    }

    /** The slice of the model each rank holds. */
    ModelSlice slice() {
      return new ModelSlice(tensorParallel, 0); // every slice holds as much
    }
  }

  /**
   * Where the ranks run.
   *
   * @param ranksPerHost ranks that share a host (and its memory)
   * @param memoryPerProcess the bytes each rank's process may use
   * @param memorySource where that figure comes from, for the table
   */
  public record Job(int worldSize, int ranksPerHost, long memoryPerProcess, String memorySource) {
    public Job {
      if (worldSize < 1 || ranksPerHost < 1 || ranksPerHost > worldSize) {
        throw new IllegalArgumentException(
            worldSize + " ranks, " + ranksPerHost + " on each host: not a job");
      }
      if (memoryPerProcess <= 0) {
        throw new IllegalArgumentException("memory per process " + memoryPerProcess);
      }
    }

    /**
     * {@code worldSize} ranks, {@code ranksPerHost} on each host like this machine, each with 90%
     * of its memory shared evenly (the rest for the system).
     */
    public static Job onThisMachine(int worldSize, int ranksPerHost) {
      long physical = physicalMemory();
      return new Job(
          worldSize,
          ranksPerHost,
          (long) (physical * 0.9) / ranksPerHost,
          String.format(
              Locale.ROOT,
              "90%% of this machine's %s%s",
              PlanReport.size(physical),
              ranksPerHost > 1 ? ", shared by " + ranksPerHost + " processes" : ""));
    }

    /**
     * How many ranks of a {@code world}-rank job share this host: what mpirun or cria's local
     * launcher says ({@code OMPI_COMM_WORLD_LOCAL_SIZE}, {@code CRIA_LOCAL_WORLD_SIZE}), else 1.
     */
    public static int ranksOnThisHost(Map<String, String> env, int world) {
      for (String key : List.of("OMPI_COMM_WORLD_LOCAL_SIZE", LOCAL_WORLD_SIZE)) {
        try {
          int n = Integer.parseInt(env.getOrDefault(key, ""));
          if (n >= 1 && n <= world) {
            return n;
          }
        } catch (NumberFormatException e) {
          // not set, or not a count: the next
        }
      }
      return 1;
    }

    Job withWorld(int world) {
      return new Job(world, ranksPerHost, memoryPerProcess, memorySource);
    }
  }

  private final Settings settings;
  private final Job job;
  private final List<ParameterLayout.Range> buckets;
  private final long parameters; // the whole model's
  private final long slice; // what each rank holds of them
  private final long largestTensor; // floats: the whole model's largest tensor, and a slice's
  private final long largestSliceTensor;
  private final long largestMultipliedBucket; // floats: the one-bucket bf16 copy holds one

  private MemoryPlan(Settings settings, Job job) {
    this.settings = settings;
    this.job = job;
    ParameterLayout layout = new ParameterLayout(settings.shape(), settings.slice());
    ParameterLayout whole = new ParameterLayout(settings.shape());
    this.parameters = whole.size();
    this.slice = layout.size();
    this.largestTensor = whole.largestTensor();
    this.largestSliceTensor = layout.largestTensor();
    this.largestMultipliedBucket = layout.largestMultipliedBucket();
    this.buckets = // ZeRO-3 keeps a bucket per layer, as GradientBuckets does
        settings.zeroStage() == 3
            ? layout.buckets()
            : GradientBuckets.joined(
                layout.buckets(), settings.bucketCapBytes() / DType.F32.bytes());
  }

  /** The plan of a run with {@code settings} on {@code job}. */
  public static MemoryPlan of(Settings settings, Job job) {
    return new MemoryPlan(settings, job);
  }

  public Settings settings() {
    return settings;
  }

  public Job job() {
    return job;
  }

  /** Bytes of {@code kind} that rank {@code rank} holds. */
  public long bytes(Kind kind, int rank) {
    int world = job.worldSize();
    long p = slice * DType.F32.bytes();
    // a tensor-parallel or ZeRO-3 checkpoint is gathered a whole tensor (and its two moments) at a
    // time on rank 0, each rank sending its part of one
    boolean split = settings.tensorParallel() > 1 || shardsParameters();
    long gathered = (3 * largestTensor + largestSliceTensor) * DType.F32.bytes();
    // bf16-sr stores AdamW's moments in bf16 (its fused update needs no working buffer)
    boolean bf16Moments = settings.precision().stochasticRounding();
    long moments = 2 * shardFloats(rank) * (bf16Moments ? DType.BF16.bytes() : DType.F32.bytes());
    return switch (kind) {
      // ZeRO-3 keeps a rank's shards and two buffers to gather a bucket into (one in use, one
      // being gathered)
      case PARAMETERS ->
          shardsParameters() ? (shardFloats(rank) + 2 * largestBucket()) * DType.F32.bytes() : p;
      // ZeRO-2 and 3 keep a rank's shards and the buckets being reduced
      case GRADIENTS ->
          dataParallel() > 1 && settings.zeroStage() >= 2
              ? (shardFloats(rank) + 2 * largestBucket()) * DType.F32.bytes()
              : p;
      case OPTIMIZER -> moments;
      case BF16_COPIES -> bf16Weights() + logitsGradient() + bf16Inputs();
      case ACTIVATIONS -> activations(settings.recompute());
      case COMMUNICATION ->
          Collectives.bufferBytes(world, job.ranksPerHost(), settings.tensorParallel());
      case SNAPSHOT -> // tensor-parallel and ZeRO-3 saves are made in the foreground
          !settings.asyncSave() || split ? 0 : (rank == 0 ? p : 0) + moments;
      case WHOLE_MODEL ->
          split ? (rank == 0 ? gathered : largestSliceTensor * DType.F32.bytes()) : 0;
      case INDICES -> INDEX_BYTES_PER_SAMPLE * settings.indexSamples();
      case RUNTIME -> RUNTIME_BYTES;
    };
  }

  /** Whether a rank keeps only its shards of the parameters: ZeRO-3 beside data parallelism. */
  boolean shardsParameters() {
    return settings.zeroStage() == 3 && dataParallel() > 1;
  }

  /** Whether the products' bf16 copy holds one bucket of weights at a time, as the model's does. */
  boolean copiesOneBucket() {
    return LlamaModel.copiesOneBucket(settings.precision(), shardsParameters());
  }

  /** Ranks that hold a copy of the model each: the world size over the tensor-parallel size. */
  public int dataParallel() {
    return Math.max(1, job.worldSize() / settings.tensorParallel());
  }

  /** Bytes of the activations of one micro-batch, with or without recompute. */
  public long activations(boolean recompute) {
    return LlamaModel.bytesNeeded(
            settings.shape(),
            settings.microBatch(),
            settings.seqLength(),
            recompute,
            settings.slice(),
            settings.splitsSequence())
        - 2 * slice * DType.F32.bytes();
  }

  /**
   * Bytes of mixed precision's bf16 copies of the weights: every weight but the embeddings, or
   * under ZeRO-3 and bf16-sr those of the one bucket in use; 0 in fp32.
   */
  private long bf16Weights() {
    if (settings.precision() == Precision.FP32) {
      return 0;
    }
    long vocab = settings.shape().vocabSize() / settings.tensorParallel();
    long weights = // not the embeddings
        copiesOneBucket() ? largestMultipliedBucket : slice - vocab * settings.shape().dim();
    return weights * DType.BF16.bytes();
  }

  /**
   * Bytes of the bf16 gradient of the logits the loss writes for the LM head (whole vocabulary).
   */
  private long logitsGradient() {
    return LlamaModel.logitsGradientBytes(
        settings.shape(),
        settings.microBatch(),
        settings.seqLength(),
        settings.slice(),
        settings.precision());
  }

  /**
   * Bytes of the bf16 inputs of the largest product in mixed precision (the widest gradient the
   * products round, and the widest layer's input: the kernels' scratch, which grows to them); 0 in
   * fp32. The widest gradient is the LM head's where the vocabulary is split (the loss writes it in
   * fp32), else q, k and v's.
   */
  private long bf16Inputs() {
    if (settings.precision() == Precision.FP32) {
      return 0;
    }
    LlamaConfig s = settings.shape();
    int tp = settings.tensorParallel();
    long tokens = (long) settings.microBatch() * settings.seqLength();
    long gradient = tp > 1 ? s.vocabSize() / tp : s.dim() + 2L * s.kvDim();
    return tokens * (gradient + Math.max(s.dim(), s.ffnDim() / tp)) * DType.BF16.bytes();
  }

  /** Everything rank {@code rank} holds. */
  public long total(int rank) {
    long sum = 0;
    for (Kind k : Kind.values()) {
      sum += bytes(k, rank);
    }
    return sum;
  }

  /** Rank {@code rank}'s bytes by kind. */
  public Map<Kind, Long> byKind(int rank) {
    Map<Kind, Long> m = new EnumMap<>(Kind.class);
    for (Kind k : Kind.values()) {
      m.put(k, bytes(k, rank));
    }
    return m;
  }

  /** Bytes of the tensors cria allocates off-heap in rank {@code rank} (no buffers, no runtime). */
  public long tensorBytes(int rank) {
    // ZeRO-2 and 3 reserve their buffers whole; only the shards and the buckets in use stay
    return (shardsParameters()
            ? (slice + 2 * largestBucket()) * DType.F32.bytes()
            : bytes(Kind.PARAMETERS, rank))
        + (settings.zeroStage() >= 2 && dataParallel() > 1
            ? slice * DType.F32.bytes()
            : bytes(Kind.GRADIENTS, rank))
        + bytes(Kind.OPTIMIZER, rank)
        + bf16Weights() // the kernels' bf16 scratch is not among these
        + logitsGradient()
        + bytes(Kind.ACTIVATIONS, rank)
        + bytes(Kind.WHOLE_MODEL, rank);
  }

  /**
   * What the rank that holds the most holds: rank 0 (the background-save copy) or the last (the
   * shards of a bucket the ranks do not divide evenly are larger at the end).
   */
  public long largest() {
    return Math.max(total(0), total(job.worldSize() - 1));
  }

  /**
   * Why the sample indices will not fit in a JVM whose maximum heap is {@code maxHeap} bytes (they
   * live on the heap, beside its own working set of a few tens of MB), or null when they fit.
   */
  public String heapShortfall(long maxHeap) {
    long indices = bytes(Kind.INDICES, 0);
    if (indices + HEAP_WORKING_SET <= maxHeap) {
      return null;
    }
    long gib = (indices + HEAP_WORKING_SET + (1L << 30) - 1) >> 30;
    return "the sample indices need at least "
        + PlanReport.size(indices)
        + " of heap on every rank ("
        + PlanReport.size(indices + HEAP_WORKING_SET)
        + " with the rest of the heap), and the JVM's maximum heap is "
        + PlanReport.size(maxHeap)
        + ": raise it (CRIA_JAVA_OPTS=-Xmx"
        + (gib + 1)
        + "g) or ask for fewer samples (trainer.max_steps x global_batch_size)";
  }

  /** Whether every rank fits in its process's memory. */
  public boolean fits() {
    return largest() <= job.memoryPerProcess();
  }

  /** Parameters of the model. */
  public long parameters() {
    return parameters;
  }

  /** Parameters each rank holds: all of them, or its tensor-parallel slice. */
  public long sliceParameters() {
    return slice;
  }

  /**
   * Floats of rank {@code rank}'s shards (ZeRO, over the data-parallel ranks): the AdamW moments
   * and, with ZeRO-2, gradients.
   */
  private long shardFloats(int rank) {
    return shards(rank).stream().mapToLong(ParameterLayout.Range::size).sum();
  }

  /**
   * The ranges rank {@code rank}'s optimizer updates: its shard of every bucket over the
   * data-parallel ranks, or its whole slice without them.
   */
  private List<ParameterLayout.Range> shards(int rank) {
    int ranks = dataParallel();
    if (ranks == 1) {
      return List.of(new ParameterLayout.Range(0, slice));
    }
    int r = rank / settings.tensorParallel();
    List<ParameterLayout.Range> out = new java.util.ArrayList<>();
    for (ParameterLayout.Range b : buckets) {
      out.add(
          new ParameterLayout.Range(
              b.from() + Collective.shardStart(b.size(), ranks, r),
              b.from() + Collective.shardStart(b.size(), ranks, r + 1)));
    }
    return out;
  }

  private long largestBucket() {
    return buckets.stream().mapToLong(ParameterLayout.Range::size).max().orElse(0);
  }

  /**
   * Changes that would make the run fit, each one a line ({@code --recompute}, a smaller
   * micro-batch, ZeRO-2 or 3, tensor parallelism, more hosts), or why nothing will; empty when it
   * fits ({@link FitAdvice}).
   */
  public List<String> whatWouldFit() {
    return FitAdvice.of(this);
  }

  private static long physicalMemory() {
    return ((com.sun.management.OperatingSystemMXBean)
            java.lang.management.ManagementFactory.getOperatingSystemMXBean())
        .getTotalMemorySize();
  }
}
