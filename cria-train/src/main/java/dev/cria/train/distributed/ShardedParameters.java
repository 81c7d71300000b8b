package dev.cria.train.distributed;

import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.Future;

/**
 * ZeRO-3's parameters (DeepSpeed's stage 3, PyTorch's FSDP with a unit per transformer block): a
 * rank keeps only its shard of each bucket of the parameters, the one its optimizer updates, and
 * the model's passes ({@link LlamaModel.ParameterShards}) all-gather a bucket from the
 * data-parallel ranks just before they read it, and hand it back just after. While the pass works
 * on a bucket the next one is gathered on the communication thread, so the gathers overlap the
 * compute, and at most these two are whole at a time (the plan counts two of the largest).
 *
 * <p>A bucket is gathered where it lives in the flat parameter buffer, whose pages outside the
 * rank's shards are handed back to the system when a pass releases it ({@link Pages}, as ZeRO-2
 * keeps the gradients), together with its bf16 copy in mixed precision: the same memory as reusable
 * gather buffers, and every offset of the model, its optimizer and its checkpoints unchanged. Each
 * gather runs on the {@link GradientBuckets}' communication thread, after the reductions queued
 * before it, so the ranks' collectives come in the same order on every rank.
 */
public final class ShardedParameters implements LlamaModel.ParameterShards {
  private final GradientBuckets buckets;
  private final MemorySegment parameters;
  private final List<ParameterLayout.Range> ranges;
  private final Future<?>[] gathers; // per bucket: started and not yet released

  /**
   * The parameters of {@code parameters} sharded as {@code buckets} shards them (ZeRO-3); every
   * rank makes it together, when each holds its shards' values, and the rest is handed back now.
   */
  public ShardedParameters(GradientBuckets buckets, Floats parameters) {
    if (!buckets.settings().shardsParameters()) {
      throw new IllegalArgumentException(
          "ZeRO stage " + buckets.settings().zeroStage() + " keeps the parameters whole");
    }
    this.buckets = buckets;
    this.parameters = parameters.segment();
    this.ranges = buckets.buckets();
    this.gathers = new Future<?>[ranges.size()];
    for (int i = 0; i < ranges.size(); i++) {
      buckets.releaseOthers(i, this.parameters);
    }
  }

  @Override
  public void acquire(ParameterLayout.Range bucket, ParameterLayout.Range next) {
    int i = indexOf(bucket);
    start(i);
    if (next != null) {
      start(indexOf(next));
    }
    buckets.awaitGather(gathers[i]);
  }

  @Override
  public void release(ParameterLayout.Range bucket, MemorySegment computeCopy) {
    int i = indexOf(bucket);
    if (gathers[i] == null) {
      throw new IllegalStateException("bucket " + bucket + " released but not acquired");
    }
    gathers[i] = null;
    buckets.releaseOthers(i, parameters);
    if (computeCopy != null) {
      Pages.release(computeCopy, 0, computeCopy.byteSize());
    }
  }

  /** Bytes of the parameter buffer in memory now: about the shards between passes. */
  public long residentBytes() {
    return Pages.resident(parameters);
  }

  private void start(int i) {
    if (gathers[i] == null) {
      gathers[i] = buckets.gather(i, parameters);
    }
  }

  private int indexOf(ParameterLayout.Range bucket) {
    int i = ranges.indexOf(bucket);
    if (i < 0) {
      throw new IllegalArgumentException("no bucket " + bucket + " among " + ranges.size());
    }
    return i;
  }
}
