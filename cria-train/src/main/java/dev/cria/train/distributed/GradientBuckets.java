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
 * the parameters are all-gathered bucket by bucket.
 */
public final class GradientBuckets implements AutoCloseable {
  private final Collective group;
  private final MemorySegment gradients;
  private final List<ParameterLayout.Range> buckets;
  private final List<ParameterLayout.Range> shards = new ArrayList<>();
  private final ExecutorService comm;
  private final List<Future<?>> pending = new ArrayList<>();
  private long reductionNanos;
  private long waitNanos;

  /** The buckets of {@code layout}, reducing {@code gradients} among {@code group}'s ranks. */
  public GradientBuckets(ParameterLayout layout, Floats gradients, Collective group) {
    this.group = group;
    this.gradients = gradients.segment();
    this.buckets = layout.buckets();
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
        f.get();
      }
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CollectiveException("interrupted while reducing gradients");
    } finally {
      pending.clear();
      waitNanos = System.nanoTime() - t0;
    }
  }

  /**
   * All-gathers every bucket's updated shards of {@code parameters}; returns the seconds it took.
   */
  public double allGather(Floats parameters) {
    long t0 = System.nanoTime();
    MemorySegment params = parameters.segment();
    for (ParameterLayout.Range b : buckets) {
      group.allGather(params.asSlice(b.from() * Float.BYTES, b.size() * Float.BYTES), b.size());
    }
    return (System.nanoTime() - t0) / 1e9;
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
