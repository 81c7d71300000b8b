package dev.cria.train.distributed;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.model.ParameterShards;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.Future;
import java.util.function.LongSupplier;

/**
 * ZeRO-3's parameters (DeepSpeed's stage 3, PyTorch's FSDP with a unit per transformer block): a
 * rank keeps only its shard of each bucket of the parameters, the one its optimizer updates, and
 * the model's passes ({@link ParameterShards}) all-gather a bucket from the data-parallel ranks
 * just before they read it, and hand it back just after. While the pass works on a bucket the next
 * one is gathered on the communication thread, so the gathers overlap the compute.
 *
 * <p>A bucket is gathered into one of two reusable buffers the size of the largest bucket (the one
 * in use and the one being fetched): the rank copies its shard in, and the all-gather fills in the
 * others'. A buffer keeps its bucket after the pass releases it, and a pass that asks for it again
 * before the optimizer's next update (the backward pass the head and last layer the forward pass
 * ended with, the next micro-batch's forward pass the first layer the backward pass ended with)
 * reads it without a gather: as every rank asks for the same buckets in the same order, every rank
 * skips the same gathers. The flat parameter buffer keeps every offset of the model, its optimizer
 * and its checkpoints, but only the rank's shards of it are ever in memory (the rest is handed back
 * to the system once, {@link Pages}). Reusing the buffers, rather than handing each bucket's pages
 * back after use, spares the page faults of memory the system must zero again (8x the copy's time,
 * measured here). Each gather runs on the {@link GradientBuckets}' communication thread, after the
 * reductions queued before it, so the collectives come in the same order on every rank.
 */
public final class ShardedParameters implements ParameterShards, AutoCloseable {
  private final GradientBuckets buckets;
  private final Buffers memory;
  private MemorySegment parameters; // the model's, once it is sharded
  private final List<ParameterLayout.Range> ranges;
  private final MemorySegment[] buffers = new MemorySegment[2];
  private final int[] holds = {-1, -1}; // by buffer: the bucket it holds or is gathering, or -1
  private final long[] versions = new long[2]; // by buffer: the parameters' version it holds
  private final LongSupplier version; // the optimizer's update count
  private final Future<?>[] gathers = new Future<?>[2];
  private final boolean[] inUse = new boolean[2]; // acquired and not yet released
  private long acquired; // buckets the passes asked for
  private long fetched; // buckets gathered

  /**
   * The parameters sharded as {@code buckets} shard them (ZeRO-3), with two gather buffers the size
   * of the largest bucket from {@code memory} (closed with this); nothing is sharded until {@link
   * #shard}. {@code version} changes whenever the parameters do (the optimizer's update count, the
   * same on every rank): a gathered bucket is read again until it does.
   */
  public ShardedParameters(GradientBuckets buckets, Buffers memory, LongSupplier version) {
    if (!buckets.settings().shardsParameters()) {
      throw new IllegalArgumentException(
          "ZeRO stage " + buckets.settings().zeroStage() + " keeps the parameters whole");
    }
    this.buckets = buckets;
    this.memory = memory;
    this.version = version;
    this.ranges = buckets.buckets();
    long largest = ranges.stream().mapToLong(ParameterLayout.Range::size).max().orElse(0);
    for (int i = 0; i < buffers.length; i++) {
      buffers[i] = memory.allocate(largest).segment();
    }
  }

  /**
   * ZeRO-3's, with buffers from {@code backend}, when {@code buckets} shard the parameters; else
   * null.
   */
  public static ShardedParameters of(
      GradientBuckets buckets, Backend backend, LongSupplier version) {
    return buckets != null && buckets.settings().shardsParameters()
        ? new ShardedParameters(buckets, backend.buffers(), version)
        : null;
  }

  /**
   * From now on {@code model}'s passes take their parameters from this, and of its own parameters
   * only this rank's shards stay in memory (the rest is handed back now). Every rank calls it
   * together, once each holds its shards' values (initialized, loaded) and before the first pass.
   */
  public void shard(LlamaModel model) {
    if (parameters != null) {
      throw new IllegalStateException("the parameters are sharded already");
    }
    parameters = model.parameters().segment();
    for (int i = 0; i < ranges.size(); i++) {
      buckets.releaseOthers(i, parameters);
    }
    model.shardParameters(this);
  }

  @Override
  public View acquire(ParameterLayout.Range bucket, ParameterLayout.Range next) {
    long now = version.getAsLong();
    int i = indexOf(bucket);
    int j = next == null ? -1 : indexOf(next);
    int at = holding(i, now);
    if (at < 0) { // into a buffer not in use, sparing the one that holds the next bucket
      at = !inUse[0] && holding(j, now) != 0 ? 0 : 1;
      load(i, now, at);
    }
    if (j >= 0 && holding(j, now) < 0) {
      load(j, now, 1 - at); // prefetched into the other buffer
    }
    buckets.awaitGather(gathers[at]);
    inUse[at] = true;
    acquired++;
    return View.f32(buffers[at].asSlice(0, bucket.size() * Float.BYTES), 0);
  }

  @Override
  public void release(ParameterLayout.Range bucket) {
    int i = indexOf(bucket);
    int at = inUse[0] && holds[0] == i ? 0 : inUse[1] && holds[1] == i ? 1 : -1;
    if (at < 0) {
      throw new IllegalStateException("bucket " + bucket + " released but not acquired");
    }
    inUse[at] = false; // it stays there, valid until the parameters change
  }

  /** Buckets acquired and buckets gathered so far: the second is less when buckets are reused. */
  public long[] counts() {
    return new long[] {acquired, fetched};
  }

  /** Bytes of the flat parameter buffer in memory: about this rank's shards. */
  public long residentBytes() {
    return Pages.resident(parameters);
  }

  /** Bytes of the two gather buffers. */
  public long bufferBytes() {
    return buffers[0].byteSize() + buffers[1].byteSize();
  }

  /** Starts gathering bucket {@code i}, as of version {@code now}, into buffer {@code at}. */
  private void load(int i, long now, int at) {
    if (inUse[at]) {
      throw new IllegalStateException("two buckets in use: release one before acquiring more");
    }
    if (gathers[at] != null && !gathers[at].isDone()) {
      buckets.awaitGather(gathers[at]); // a gather fetched for a pass that did not come
    }
    holds[at] = i;
    versions[at] = now;
    gathers[at] = buckets.gather(i, parameters, buffers[at]);
    fetched++;
  }

  /** The buffer holding bucket {@code i} as of version {@code now}, or -1. */
  private int holding(int i, long now) {
    for (int b = 0; b < 2; b++) {
      if (i >= 0 && holds[b] == i && versions[b] == now) {
        return b;
      }
    }
    return -1;
  }

  @Override
  public void close() {
    memory.close();
  }

  private int indexOf(ParameterLayout.Range bucket) {
    int i = ranges.indexOf(bucket);
    if (i < 0) {
      throw new IllegalArgumentException("no bucket " + bucket + " among " + ranges.size());
    }
    return i;
  }
}
