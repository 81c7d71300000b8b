package dev.cria.train.distributed;

import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The gradient buckets of data-parallel training (Megatron-Core's buckets, ZeRO-1's partitions):
 * the blocks the backward pass finishes one after the other ({@link ParameterLayout#buckets()}),
 * each split evenly among the ranks. As soon as the backward pass announces a bucket, a
 * communication thread reduce-scatters it, so that the reduction overlaps the rest of the pass;
 * afterwards each rank holds the sums of its shard of every bucket. After the update, the shards of
 * the parameters are all-gathered bucket by bucket on the same thread, in the order the next
 * forward pass reads them, and that pass waits only for the bucket it is about to read ({@link
 * #awaitParameters}): the gather overlaps the forward pass as the reduction overlaps the backward.
 *
 * <p>{@link Settings}: buckets are the model's layers unless a size is given (then consecutive
 * layers are joined until a bucket holds that many bytes of gradients, as Megatron-Core's {@code
 * bucket_size} and PyTorch DDP's {@code bucket_cap_mb}); with ZeRO stage 2 every micro-batch's
 * gradients are reduce-scattered, each rank adds its shard's sums to what it holds, and the rest of
 * the bucket is handed back to the system ({@link Pages}): a rank keeps only its shard of the
 * gradients between micro-batches. A rank's shard accumulates in place: its own micro-batch's
 * gradients land on top of the sums so far, the other ranks contribute only theirs (their copy of
 * this shard was released), so the reduce-scatter adds exactly this micro-batch.
 *
 * <p>The communication thread runs the collectives one after the other; the training thread uses
 * the group itself only once {@link #awaitGathers()} has returned.
 */
public final class GradientBuckets implements AutoCloseable {
  /**
   * How gradients are bucketed and kept.
   *
   * @param zeroStage 1: every rank keeps the whole gradient buffer (reduced once per step); 2: only
   *     its shards (reduced once per micro-batch); 3: as 2, and only its shards of the parameters
   *     too ({@link ShardedParameters})
   * @param capBytes the bytes of fp32 gradients a bucket reaches before the next one starts (0: a
   *     bucket per layer); a layer is never split. ZeRO-3 keeps a bucket per layer (FSDP's unit, a
   *     transformer block): the parameters are gathered a bucket at a time, and a bucket of several
   *     layers would hold them all whole at once
   */
  public record Settings(int zeroStage, long capBytes) {
    /** ZeRO-1, a bucket per layer. */
    public static final Settings DEFAULT = new Settings(1, 0);

    public Settings {
      if (zeroStage < 1 || zeroStage > 3) {
        throw new IllegalArgumentException(
            "ZeRO stage " + zeroStage + ": cria has stages 1, 2 and 3");
      }
      if (capBytes < 0) {
        throw new IllegalArgumentException("a bucket size of " + capBytes + " bytes");
      }
    }

    /** Whether a rank keeps only its shards of the gradients (ZeRO-2 and 3). */
    public boolean shardsGradients() {
      return zeroStage >= 2;
    }

    /** Whether a rank keeps only its shards of the parameters (ZeRO-3). */
    public boolean shardsParameters() {
      return zeroStage == 3;
    }
  }

  private final Collective group;
  private final Settings settings;
  private final MemorySegment gradients;
  private final List<ParameterLayout.Range> buckets;
  private final List<ParameterLayout.Range> shards = new ArrayList<>();
  private final ExecutorService comm;
  private final List<Future<?>> pending = new ArrayList<>();
  private final List<ParameterLayout.Range> gatherOrder;
  private final Future<?>[] gathers;
  private volatile long reductionNanos;
  private long waitNanos;
  private volatile long gatherNanos;
  private long gatherWaitNanos;

  /** {@link Settings#DEFAULT}'s buckets of {@code layout}, reducing {@code gradients}. */
  public GradientBuckets(ParameterLayout layout, Floats gradients, Collective group) {
    this(layout, gradients, group, Settings.DEFAULT);
  }

  /**
   * The buckets of {@code layout} as {@code settings} says, reducing {@code gradients} among {@code
   * group}'s ranks. With ZeRO-2 the gradients outside this rank's shards are released at once.
   */
  public GradientBuckets(
      ParameterLayout layout, Floats gradients, Collective group, Settings settings) {
    this.group = group;
    this.settings = settings;
    this.gradients = gradients.segment();
    this.buckets =
        settings.shardsParameters()
            ? layout.buckets()
            : joined(layout.buckets(), settings.capBytes() / Float.BYTES);
    this.gatherOrder = buckets.reversed(); // the forward pass's order: embeddings first
    this.gathers = new Future<?>[buckets.size()];
    for (ParameterLayout.Range b : buckets) {
      Collective.Shard own = group.shard(b.size(), group.rank());
      shards.add(new ParameterLayout.Range(b.from() + own.from(), b.from() + own.to()));
    }
    this.comm =
        Executors.newSingleThreadExecutor(r -> {
          Thread t = new Thread(r, "cria-gradient-reduction");
          t.setDaemon(true);
          return t;
        });
    if (settings.shardsGradients()) {
      for (int i = 0; i < buckets.size(); i++) {
        releaseOthers(i); // allocated zeroed, so in memory: only the shards stay
      }
    }
  }

  /**
   * {@code layers} (the backward's order) with consecutive ones joined until a bucket holds {@code
   * cap} parameters (0: as they are).
   */
  public static List<ParameterLayout.Range> joined(List<ParameterLayout.Range> layers, long cap) {
    if (cap <= 0) {
      return layers;
    }
    List<ParameterLayout.Range> out = new ArrayList<>();
    ParameterLayout.Range open = null;
    for (ParameterLayout.Range r : layers) {
      open = open == null ? r : new ParameterLayout.Range(r.from(), open.to());
      if (open.size() >= cap) {
        out.add(open);
        open = null;
      }
    }
    if (open != null) {
      out.add(open);
    }
    return List.copyOf(out);
  }

  /** The settings these buckets were made with. */
  public Settings settings() {
    return settings;
  }

  /** The buckets, in the order the backward pass finishes them. */
  public List<ParameterLayout.Range> buckets() {
    return buckets;
  }

  /** This rank's shard of each bucket, in the same order. */
  public List<ParameterLayout.Range> shards() {
    return List.copyOf(shards);
  }

  /**
   * The shards rank {@code rank} of the group owns, in the order of {@link #shards()} (which are
   * this rank's): what its optimizer updates and its checkpoint holds.
   */
  public List<ParameterLayout.Range> shardsOf(int rank) {
    List<ParameterLayout.Range> theirs = new ArrayList<>();
    for (ParameterLayout.Range b : buckets) {
      Collective.Shard s = group.shard(b.size(), rank);
      theirs.add(new ParameterLayout.Range(b.from() + s.from(), b.from() + s.to()));
    }
    return List.copyOf(theirs);
  }

  /**
   * From the backward pass ({@link dev.cria.engine.model.LlamaModel.GradientsReady}):
   * reduce-scatter the bucket {@code [from, to)} on the communication thread.
   */
  public void reduceWhenReady(long from, long to) {
    int i = bucketEnding(from);
    if (i < 0) {
      return; // a bucket of several layers: reduced once its last (lowest) layer is final
    }
    ParameterLayout.Range b = buckets.get(i);
    pending.add(
        comm.submit(() -> {
          long t0 = System.nanoTime();
          group.reduceScatterSum(
              gradients.asSlice(b.from() * Float.BYTES, b.size() * Float.BYTES), b.size());
          if (settings.shardsGradients()) {
            releaseOthers(i);
          }
          reductionNanos += System.nanoTime() - t0;
        }));
  }

  /** The bucket whose last part in the backward's order starts at {@code from}, or -1. */
  private int bucketEnding(long from) {
    for (int i = 0; i < buckets.size(); i++) {
      if (buckets.get(i).from() == from) {
        return i;
      }
    }
    return -1;
  }

  /** ZeRO-2: hands back (and zeroes) bucket {@code i}'s gradients outside this rank's shard. */
  private void releaseOthers(int i) {
    releaseOthers(i, gradients);
  }

  /** Hands back (and zeroes) bucket {@code i} of {@code buffer} outside this rank's shard. */
  void releaseOthers(int i, MemorySegment buffer) {
    ParameterLayout.Range b = buckets.get(i);
    ParameterLayout.Range own = shards.get(i);
    Pages.release(buffer, b.from() * Float.BYTES, own.from() * Float.BYTES);
    Pages.release(buffer, own.to() * Float.BYTES, b.to() * Float.BYTES);
  }

  /**
   * ZeRO-3: starts gathering bucket {@code i} of {@code parameters} into {@code into} on the
   * communication thread, after what is queued there: this rank's shard copied in, the others'
   * all-gathered. The time counts as the gathers'.
   */
  Future<?> gather(int i, MemorySegment parameters, MemorySegment into) {
    ParameterLayout.Range b = buckets.get(i);
    ParameterLayout.Range own = shards.get(i);
    return comm.submit(() -> {
      long t0 = System.nanoTime();
      MemorySegment.copy(
          parameters,
          own.from() * Float.BYTES,
          into,
          (own.from() - b.from()) * Float.BYTES,
          own.size() * Float.BYTES);
      group.allGather(into.asSlice(0, b.size() * Float.BYTES), b.size());
      gatherNanos += System.nanoTime() - t0;
    });
  }

  /** ZeRO-3: waits for a gather from {@link #gather}, counted as the training thread's wait. */
  void awaitGather(Future<?> gather) {
    long t0 = System.nanoTime();
    try {
      await(gather, "gathering parameters");
    } finally {
      gatherWaitNanos += System.nanoTime() - t0;
    }
  }

  /**
   * Zeroes the gradients before a step: all of them (ZeRO-1), or this rank's shards, the rest
   * reading as zeros already (ZeRO-2).
   */
  public void zeroGradients() {
    if (!settings.shardsGradients()) {
      gradients.fill((byte) 0);
      return;
    }
    for (ParameterLayout.Range s : shards) {
      gradients.asSlice(s.from() * Float.BYTES, s.size() * Float.BYTES).fill((byte) 0);
    }
  }

  /** Bytes of the gradient buffer in memory now (ZeRO-2 keeps about the shards'). */
  public long residentGradientBytes() {
    return Pages.resident(gradients);
  }

  /** Waits for every bucket's reduction of this step; rethrows a collective's failure. */
  public void awaitReductions() {
    long t0 = System.nanoTime();
    try {
      for (Future<?> f : pending) {
        await(f, "reducing gradients");
      }
    } finally {
      pending.clear();
      waitNanos += System.nanoTime() - t0;
    }
  }

  /**
   * Starts all-gathering every bucket's updated shards of {@code parameters} on the communication
   * thread, in the forward pass's order; returns at once. Nothing under ZeRO-3, whose passes gather
   * each bucket when they reach it.
   */
  public void gatherWhileForwarding(Floats parameters) {
    if (settings.shardsParameters()) {
      return; // ZeRO-3: the passes gather each bucket as they reach it (ShardedParameters)
    }
    MemorySegment params = parameters.segment();
    for (int i = 0; i < gatherOrder.size(); i++) {
      ParameterLayout.Range b = gatherOrder.get(i);
      gathers[i] =
          comm.submit(() -> {
            long t0 = System.nanoTime();
            group.allGather(
                params.asSlice(b.from() * Float.BYTES, b.size() * Float.BYTES), b.size());
            gatherNanos += System.nanoTime() - t0;
          });
    }
  }

  /**
   * From the forward pass ({@link dev.cria.engine.model.LlamaModel.ParametersNeeded}): waits until
   * every bucket that overlaps {@code [from, to)} is gathered.
   */
  public void awaitParameters(long from, long to) {
    long t0 = System.nanoTime();
    for (int i = 0; i < gathers.length; i++) {
      ParameterLayout.Range b = gatherOrder.get(i);
      if (gathers[i] != null && b.from() < to && from < b.to()) {
        await(gathers[i], "gathering parameters");
        gathers[i] = null;
      }
    }
    gatherWaitNanos += System.nanoTime() - t0;
  }

  /** Waits for every gather still going on (before the group or the whole parameters are used). */
  public void awaitGathers() {
    awaitParameters(Long.MIN_VALUE, Long.MAX_VALUE);
  }

  private static void await(Future<?> f, String what) {
    try {
      f.get();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CollectiveException("interrupted while " + what);
    }
  }

  /**
   * Seconds the gathers took on the communication thread, and the training thread's wait for them,
   * since the last call; resets both.
   */
  public double[] gatherSeconds() {
    double[] s = {gatherNanos / 1e9, gatherWaitNanos / 1e9};
    gatherNanos = 0;
    gatherWaitNanos = 0;
    return s;
  }

  /** Seconds the last step's reductions took on the communication thread; resets them. */
  public double reductionSeconds() {
    double s = reductionNanos / 1e9;
    reductionNanos = 0;
    return s;
  }

  /** Seconds the training thread waited for reductions since the last call; resets them. */
  public double waitSeconds() {
    double s = waitNanos / 1e9;
    waitNanos = 0;
    return s;
  }

  @Override
  public void close() {
    comm.shutdownNow();
  }
}
