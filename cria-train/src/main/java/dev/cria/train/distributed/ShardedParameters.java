package dev.cria.train.distributed;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ParameterLayout;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.Future;

/**
 * ZeRO-3's parameters (DeepSpeed's stage 3, PyTorch's FSDP with a unit per transformer block): a
 * rank keeps only its shard of each bucket of the parameters, the one its optimizer updates, and
 * the model's passes ({@link LlamaModel.ParameterShards}) all-gather a bucket from the
 * data-parallel ranks just before they read it, and hand it back just after. While the pass works
 * on a bucket the next one is gathered on the communication thread, so the gathers overlap the
 * compute.
 *
 * <p>A bucket is gathered into one of two reusable buffers the size of the largest bucket (the one
 * in use and the one being fetched): the rank copies its shard in, and the all-gather fills in the
 * others'. The flat parameter buffer keeps every offset of the model, its optimizer and its
 * checkpoints, but only the rank's shards of it are ever in memory (the rest is handed back to the
 * system once, {@link Pages}). Reusing the buffers, rather than handing each bucket's pages back
 * after use, spares the page faults of memory the system must zero again (8x the copy's time,
 * measured here). Each gather runs on the {@link GradientBuckets}' communication thread, after the
 * reductions queued before it, so the collectives come in the same order on every rank.
 */
public final class ShardedParameters implements LlamaModel.ParameterShards, AutoCloseable {
  private final GradientBuckets buckets;
  private final Buffers memory;
  private MemorySegment parameters; // the model's, once it is sharded
  private final List<ParameterLayout.Range> ranges;
  private final MemorySegment[] buffers = new MemorySegment[2];
  private final int[] holds = {-1, -1}; // by buffer: the bucket it holds or is gathering, or -1
  private final Future<?>[] gathers = new Future<?>[2];
  private final boolean[] inUse = new boolean[2]; // acquired and not yet released

  /**
   * The parameters sharded as {@code buckets} shard them (ZeRO-3), with two gather buffers the size
   * of the largest bucket from {@code memory} (closed with this); nothing is sharded until {@link
   * #shard}.
   */
  public ShardedParameters(GradientBuckets buckets, Buffers memory) {
    if (!buckets.settings().shardsParameters()) {
      throw new IllegalArgumentException(
          "ZeRO stage " + buckets.settings().zeroStage() + " keeps the parameters whole");
    }
    this.buckets = buckets;
    this.memory = memory;
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
  public static ShardedParameters of(GradientBuckets buckets, Backend backend) {
    return buckets != null && buckets.settings().shardsParameters()
        ? new ShardedParameters(buckets, backend.buffers())
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
  public MemorySegment acquire(ParameterLayout.Range bucket, ParameterLayout.Range next) {
    int i = indexOf(bucket);
    int at = bufferOf(i);
    if (at < 0) {
      at = start(i);
    }
    if (next != null && bufferOf(indexOf(next)) < 0 && free() >= 0) {
      start(indexOf(next));
    }
    buckets.awaitGather(gathers[at]);
    inUse[at] = true;
    return buffers[at].asSlice(0, bucket.size() * Float.BYTES);
  }

  @Override
  public void release(ParameterLayout.Range bucket) {
    int at = bufferOf(indexOf(bucket));
    if (at < 0 || !inUse[at]) {
      throw new IllegalStateException("bucket " + bucket + " released but not acquired");
    }
    inUse[at] = false;
    holds[at] = -1;
    gathers[at] = null;
  }

  /** Bytes of the flat parameter buffer in memory: about this rank's shards. */
  public long residentBytes() {
    return Pages.resident(parameters);
  }

  /** Bytes of the two gather buffers. */
  public long bufferBytes() {
    return buffers[0].byteSize() + buffers[1].byteSize();
  }

  /** Starts gathering bucket {@code i} into a free buffer; returns the buffer. */
  private int start(int i) {
    int at = free();
    if (at < 0) { // a gather fetched for a pass that did not come (it failed): wait it out
      at = inUse[0] ? 1 : 0;
      if (inUse[at]) {
        throw new IllegalStateException("two buckets in use: release one before acquiring more");
      }
      buckets.awaitGather(gathers[at]);
    }
    holds[at] = i;
    gathers[at] = buckets.gather(i, parameters, buffers[at]);
    return at;
  }

  private int free() {
    return holds[0] < 0 ? 0 : holds[1] < 0 ? 1 : -1;
  }

  private int bufferOf(int bucket) {
    return holds[0] == bucket ? 0 : holds[1] == bucket ? 1 : -1;
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
