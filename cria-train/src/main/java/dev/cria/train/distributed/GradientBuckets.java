package dev.cria.train.distributed;

import dev.cria.engine.model.ParameterLayout;
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
 * <p>The communication thread runs the collectives one after the other; the training thread uses
 * the group itself only once {@link #awaitGathers()} has returned.
 */
public final class GradientBuckets implements AutoCloseable {
  private final Collective group;
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

  /** The buckets of {@code layout}, reducing {@code gradients} among {@code group}'s ranks. */
  public GradientBuckets(ParameterLayout layout, Floats gradients, Collective group) {
    this.group = group;
    this.gradients = gradients.segment();
    this.buckets = layout.buckets();
    this.gatherOrder = buckets.reversed(); // the forward pass's order: embeddings first
    this.gathers = new Future<?>[buckets.size()];
    int world = group.worldSize();
    for (ParameterLayout.Range b : buckets) {
      shards.add(
          new ParameterLayout.Range(
              b.from() + Collective.shardStart(b.size(), world, group.rank()),
              b.from() + Collective.shardStart(b.size(), world, group.rank() + 1)));
    }
    this.comm =
        Executors.newSingleThreadExecutor(r -> {
          Thread t = new Thread(r, "cria-gradient-reduction");
          t.setDaemon(true);
          return t;
        });
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
   * From the backward pass ({@link dev.cria.engine.model.LlamaModel.GradientsReady}):
   * reduce-scatter the bucket {@code [from, to)} on the communication thread.
   */
  public void reduceWhenReady(long from, long to) {
    pending.add(
        comm.submit(() -> {
          long t0 = System.nanoTime();
          group.reduceScatterSum(
              gradients.asSlice(from * Float.BYTES, (to - from) * Float.BYTES), to - from);
          reductionNanos += System.nanoTime() - t0;
        }));
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
      waitNanos = System.nanoTime() - t0;
    }
  }

  /**
   * Starts all-gathering every bucket's updated shards of {@code parameters} on the communication
   * thread, in the forward pass's order; returns at once.
   */
  public void gatherWhileForwarding(Floats parameters) {
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

  /** Seconds the last step waited for its reductions after the backward pass. */
  public double waitSeconds() {
    return waitNanos / 1e9;
  }

  @Override
  public void close() {
    comm.shutdownNow();
  }
}
