package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;

/**
 * Rank {@code rank} of {@code world} for tests of one thread that need to see what a class asks of
 * its group: every operation is recorded ({@code "allGather 64+32 8"}: the operation, the byte
 * offset from {@link #base} and the byte size of the segment, the count); a sum adds {@link
 * #others} to every float, as if the other ranks held it; gathers may be held back ({@link
 * #gathers}).
 */
class RecordingGroup implements Collective {
  final int rank;
  final int world;
  final List<String> calls = new ArrayList<>();
  MemorySegment base;
  float others;
  Duration patience;

  /** Permits for the gathers when not null: each gather takes one first. */
  Semaphore gathers;

  /** Thrown by the next reduce-scatter when not null. */
  RuntimeException failReduce;

  /** Thrown by the next reduce-scatter when not null. */
  Error failReduceWithError;

  RecordingGroup(int rank, int world) {
    this.rank = rank;
    this.world = world;
  }

  private synchronized void record(String op, MemorySegment s, long count) {
    long at = base == null ? 0 : s.address() - base.address();
    calls.add(op + " " + at + "+" + s.byteSize() + " " + count);
  }

  synchronized List<String> calls() {
    return List.copyOf(calls);
  }

  @Override
  public int rank() {
    return rank;
  }

  @Override
  public int worldSize() {
    return world;
  }

  @Override
  public String transport() {
    return "recording";
  }

  @Override
  public synchronized void barrier() {
    calls.add("barrier");
  }

  @Override
  public synchronized void barrier(Duration patience) {
    this.patience = patience;
    calls.add("barrier " + patience.toSeconds() + "s");
  }

  @Override
  public void broadcast(MemorySegment data, long bytes, int root) {
    record("broadcast(" + root + ")", data, bytes);
  }

  @Override
  public void allReduceSum(MemorySegment floats, long count) {
    record("allReduceSum", floats, count);
    for (long i = 0; i < count; i++) {
      floats.setAtIndex(
          ValueLayout.JAVA_FLOAT, i, floats.getAtIndex(ValueLayout.JAVA_FLOAT, i) + others);
    }
  }

  @Override
  public void reduceScatterSum(MemorySegment floats, long count) {
    record("reduceScatterSum", floats, count);
    RuntimeException f = failReduce;
    if (f != null) {
      failReduce = null;
      throw f;
    }
    Error e = failReduceWithError;
    if (e != null) {
      failReduceWithError = null;
      throw e;
    }
  }

  @Override
  public void allGather(MemorySegment floats, long count) {
    if (gathers != null) {
      gathers.acquireUninterruptibly();
    }
    record("allGather", floats, count);
  }

  @Override
  public synchronized void abort(String reason) {
    calls.add("abort " + reason);
  }

  @Override
  public synchronized void close() {
    calls.add("close");
  }
}
