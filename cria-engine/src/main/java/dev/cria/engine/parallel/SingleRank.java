package dev.cria.engine.parallel;

import java.lang.foreign.MemorySegment;

/** The group of one: every operation is a no-op. */
final class SingleRank implements Collective {
  @Override
  public int rank() {
    return 0;
  }

  @Override
  public int worldSize() {
    return 1;
  }

  @Override
  public String transport() {
    return "none (one rank)";
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
  public Collective split(int[] members) {
    Collective.checkMembers(this, members);
    return this;
  }

  @Override
  public void abort(String reason) {} // nothing waits for anyone

  @Override
  public void close() {}
}
