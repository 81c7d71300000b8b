package dev.cria.train;

import dev.cria.engine.backend.HostBuffers;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.tensor.DType;
import dev.cria.train.compile.MemoryPlan;
import dev.cria.train.compile.PlanReport;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.distributed.GradientBuckets;
import dev.cria.train.distributed.ShardedAdamW;
import dev.cria.train.distributed.ShardedParameters;
import dev.cria.train.metrics.MetricsSink;
import dev.cria.train.metrics.ProcessMemory;
import java.io.IOException;
import java.util.Locale;
import java.util.OptionalLong;

/**
 * What a rank says of its memory: what it holds by kind and its plan when training starts, what
 * ZeRO-2 kept after the first step, and at the end what it held beside the plan (every run tests
 * the plan). Samples what the process holds after each step.
 */
final class RankMemory {
  private final TrainConfig config;
  private final Collective group;
  private final MemoryPlan plan;
  private long peakHeld;
  private ShardedParameters sharded; // ZeRO-3's, else null

  RankMemory(TrainConfig config, MemoryPlan.Settings settings, Collective group) {
    this.config = config;
    this.group = group;
    this.plan =
        MemoryPlan.of(
            settings,
            MemoryPlan.Job.onThisMachine(
                group.worldSize(),
                MemoryPlan.Job.ranksOnThisHost(System.getenv(), group.worldSize())));
  }

  /**
   * The lines of a rank starting: memory by kind, the buckets, the plan; {@code sharded} is
   * ZeRO-3's (else null).
   */
  void describe(
      MetricsSink metrics,
      LlamaModel model,
      ShardedAdamW adam,
      GradientBuckets buckets,
      ShardedParameters sharded)
      throws IOException {
    this.sharded = sharded;
    long n = model.layout().size();
    boolean zero2 = buckets != null && buckets.settings().shardsGradients();
    boolean zero3 = sharded != null;
    boolean bf16Moments = config.trainer().precision().stochasticRounding(); // bf16-sr
    int data = group.worldSize() / config.distributed().tensorParallel(); // ranks sharding it
    metrics.info(
        String.format(
            Locale.ROOT,
            "memory per rank: parameters %.0f MB%s, gradients %.0f MB%s, AdamW state"
                + " %.0f MB%s,%s activations %.0f MB%s",
            (zero3 ? n / data : n) * 4 / 1e6,
            zero3
                ? String.format(
                    Locale.ROOT,
                    " (this rank's shards) and %.0f MB to gather two layers into",
                    sharded.bufferBytes() / 1e6)
                : "",
            (zero2 ? n / data : n) * 4 / 1e6,
            zero2 ? " (this rank's shards, and the buckets being reduced)" : "",
            adam.stateBytes() / 1e6,
            buckets != null
                ? String.format(
                    Locale.ROOT,
                    " (ZeRO-%d: this rank's 1/%d%s)",
                    buckets.settings().zeroStage(),
                    data,
                    bf16Moments ? ", bf16" : "")
                : bf16Moments ? " (bf16)" : "",
            model.computeCopyBytes() > 0
                ? String.format(
                    Locale.ROOT, " bf16 weights %.0f MB,", model.computeCopyBytes() / 1e6)
                : "",
            (model.bytes() - 8.0 * n - model.computeCopyBytes()) / 1e6,
            config.model().recompute() ? " (each layer's input; the rest recomputed)" : ""));
    if (buckets != null) {
      metrics.info(
          String.format(
                  Locale.ROOT,
                  "gradient buckets: %d (%s), reduce-scattered %s",
                  buckets.buckets().size(),
                  zero3 && buckets.settings().capBytes() > 0
                      ? "one per layer: ZeRO-3 gathers a layer at a time, bucket_cap_mb is not used"
                      : buckets.settings().capBytes() > 0
                          ? String.format(
                              Locale.ROOT,
                              "layers joined up to %.1f MiB",
                              buckets.settings().capBytes() / 1048576.0)
                          : "one per layer",
                  zero2 ? "after every micro-batch" : "once per step")
              + (zero3
                  ? "; the parameters all-gathered a layer at a time as each pass reaches it"
                  : ""));
    } else if (config.distributed().zeroStage() != 1 || config.distributed().bucketCapMb() != 0) {
      metrics.info(
          group.worldSize() == 1
              ? "one rank: distributed.zero_stage and bucket_cap_mb have nothing to share"
              : "no data parallelism (the ranks share one model): distributed.zero_stage and"
                  + " bucket_cap_mb have nothing to share");
    }
    metrics.info(
        "memory plan: "
            + PlanReport.size(plan.total(group.rank()))
            + " for this rank, of "
            + PlanReport.size(plan.job().memoryPerProcess())
            + " per process (cria compile shows the table)");
  }

  /**
   * After the first step with ZeRO-2 or 3: how much of the gradient buffer, and under ZeRO-3 of the
   * parameter buffer, stayed in memory.
   */
  void describeShards(MetricsSink metrics, GradientBuckets buckets, long n, long step)
      throws IOException {
    metrics.info(
        String.format(
            Locale.ROOT,
            "ZeRO-%d: %.0f MB of the %.0f MB gradient buffer%s in memory after step %d"
                + " (ZeRO-1 keeps all of it)",
            buckets.settings().zeroStage(),
            buckets.residentGradientBytes() / 1e6,
            n * DType.F32.bytes() / 1e6,
            sharded == null
                ? ""
                : String.format(
                    Locale.ROOT, " and %.0f MB of the parameters'", sharded.residentBytes() / 1e6),
            step));
  }

  /** After a step: what the process holds now ({@link ProcessMemory#held()}). */
  void sample() {
    peakHeld = Math.max(peakHeld, ProcessMemory.held().orElse(0));
  }

  /**
   * At the end: the off-heap tensors, the most the rank held after a step, and the peak resident
   * set the system counts (with the pages of the files it read), each beside the plan.
   */
  void describeMeasured(MetricsSink metrics) throws IOException {
    OptionalLong peak = ProcessMemory.peakResident();
    metrics.info(
        "memory: off-heap tensors "
            + PlanReport.size(HostBuffers.liveBytes())
            + " (planned "
            + PlanReport.size(plan.tensorBytes(group.rank()))
            + ")"
            + (peakHeld > 0
                ? ", held after a step at most "
                    + PlanReport.size(peakHeld)
                    + " (planned "
                    + PlanReport.size(plan.total(group.rank()))
                    + ")"
                : "")
            + (peak.isPresent()
                ? "; peak resident with file pages " + PlanReport.size(peak.getAsLong())
                : ""));
  }
}
