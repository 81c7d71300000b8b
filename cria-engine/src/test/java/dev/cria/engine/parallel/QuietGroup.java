package dev.cria.engine.parallel;

import java.lang.foreign.MemorySegment;

/**
 * Rank {@code rank} of a group of {@code worldSize} whose operations do nothing: what a test's
 * group overrides the one or two things of (counting the calls, sharding oddly).
 */
public class QuietGroup implements Collective {
  private final int rank;
  private final int worldSize;
  private final String transport;

  public QuietGroup(int rank, int worldSize, String transport) {
    this.rank = rank;
    this.worldSize = worldSize;
    this.transport = transport;
  }

  @Override
  public int rank() {
    return rank;
  }

  @Override
  public int worldSize() {
    return worldSize;
  }

  @Override
  public String transport() {
    return transport;
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
  public void abort(String reason) {}

  @Override
  public void close() {}
}
