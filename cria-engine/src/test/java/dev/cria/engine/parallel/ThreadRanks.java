package dev.cria.engine.parallel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/**
 * A group of ranks as threads of this JVM, for tests of what the engine does across a group: {@link
 * #run} calls a function on each rank's {@link Collective} in a thread of its own. The collectives
 * meet at a barrier; sums are taken in rank order, as the transports' are bit-identical everywhere.
 */
public final class ThreadRanks {
  private final int size;
  private final CyclicBarrier barrier;
  private final MemorySegment[] buffers;

  private ThreadRanks(int size) {
    this.size = size;
    this.barrier = new CyclicBarrier(size);
    this.buffers = new MemorySegment[size];
  }

  /** Runs {@code work} on each of {@code size} ranks; their results in rank order. */
  public static <T> List<T> run(int size, Function<Collective, T> work) throws Exception {
    ThreadRanks ranks = new ThreadRanks(size);
    ExecutorService pool = Executors.newFixedThreadPool(size);
    try {
      List<Future<T>> futures = new ArrayList<>();
      for (int r = 0; r < size; r++) {
        Collective c = ranks.rank(r);
        futures.add(pool.submit(() -> work.apply(c)));
      }
      List<T> out = new ArrayList<>();
      for (Future<T> f : futures) {
        out.add(f.get());
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  private void await() {
    try {
      barrier.await();
    } catch (InterruptedException | BrokenBarrierException e) {
      throw new IllegalStateException(e);
    }
  }

  private Collective rank(int rank) {
    return new Collective() {
      @Override
      public int rank() {
        return rank;
      }

      @Override
      public int worldSize() {
        return size;
      }

      @Override
      public String transport() {
        return "threads (" + size + " ranks)";
      }

      @Override
      public void barrier() {
        await();
      }

      @Override
      public void broadcast(MemorySegment data, long bytes, int root) {
        buffers[rank] = data;
        await();
        if (rank != root) {
          MemorySegment.copy(buffers[root], 0, data, 0, bytes);
        }
        await();
      }

      @Override
      public void allReduceSum(MemorySegment floats, long count) {
        buffers[rank] = floats;
        await();
        float[] sum = new float[(int) count];
        for (int r = 0; r < size; r++) { // in rank order on every rank: the same bits
          for (int i = 0; i < count; i++) {
            sum[i] += buffers[r].getAtIndex(ValueLayout.JAVA_FLOAT, i);
          }
        }
        await();
        MemorySegment.copy(sum, 0, floats, ValueLayout.JAVA_FLOAT, 0, (int) count);
        await();
      }

      @Override
      public void reduceScatterSum(MemorySegment floats, long count) {
        buffers[rank] = floats;
        await();
        Shard s = shard(count, rank);
        float[] sum = new float[(int) s.size()];
        for (int r = 0; r < size; r++) {
          for (int i = 0; i < s.size(); i++) {
            sum[i] += buffers[r].getAtIndex(ValueLayout.JAVA_FLOAT, s.from() + i);
          }
        }
        await();
        MemorySegment.copy(
            sum, 0, floats, ValueLayout.JAVA_FLOAT, s.from() * Float.BYTES, sum.length); // bytes
        await();
      }

      @Override
      public void allGather(MemorySegment floats, long count) {
        buffers[rank] = floats;
        await();
        for (int r = 0; r < size; r++) {
          if (r != rank) {
            Shard s = shard(count, r);
            MemorySegment.copy(
                buffers[r], s.from() * Float.BYTES, floats, s.from() * Float.BYTES, s.size() * 4);
          }
        }
        await();
      }

      @Override
      public void barrier(Duration patience) {
        await();
      }

      @Override
      public void abort(String reason) {
        barrier.reset();
      }

      @Override
      public void close() {}
    };
  }
}
