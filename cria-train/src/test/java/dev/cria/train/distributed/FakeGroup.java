package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Rank {@code rank} of a group of {@code world} for tests that need no peers: every operation
 * returns at once (a sum is this rank's own); aborts are recorded. Public for the tests of other
 * packages (checkpoints: what only rank 0, or only the other ranks, decide).
 */
public final class FakeGroup implements Collective {
  private final int rank;
  private final int world;
  final List<String> aborts = new ArrayList<>();

  public FakeGroup(int rank, int world) {
    this.rank = rank;
    this.world = world;
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
    return "fake";
  }

  @Override
  public void barrier() {}

  @Override
  public void broadcast(MemorySegment data, long bytes, int root) {}

  @Override
  public void allReduceSum(MemorySegment floats, long count) {}

  @Override
  public void reduceScatterSum(MemorySegment floats, long count) {}

  @Override
  public void allGather(MemorySegment floats, long count) {}

  @Override
  public synchronized void abort(String reason) {
    aborts.add(reason);
  }

  @Override
  public void close() {}
}
