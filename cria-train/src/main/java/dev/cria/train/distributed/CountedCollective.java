package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A group whose operations this rank has entered are counted. Every rank of a job enters the same
 * operations in the same order, so while some ranks wait in operation {@code n}, a rank whose count
 * is below {@code n} is the one they wait for: {@link PeerWatch} reads the counts that the ranks
 * publish in their status files to name it.
 */
public final class CountedCollective implements Collective {
  private final Collective group;
  private final AtomicLong entered = new AtomicLong();

  private CountedCollective(Collective group) {
    this.group = group;
  }

  /** {@code group}, counted (returned as it is when it is counted already). */
  public static CountedCollective of(Collective group) {
    return group instanceof CountedCollective c ? c : new CountedCollective(group);
  }

  /** The operations this rank has entered so far. */
  public long entered() {
    return entered.get();
  }

  @Override
  public int rank() {
    return group.rank();
  }

  @Override
  public int worldSize() {
    return group.worldSize();
  }

  @Override
  public String transport() {
    return group.transport();
  }

  @Override
  public void barrier() {
    entered.incrementAndGet();
    group.barrier();
  }

  @Override
  public void barrier(Duration patience) {
    entered.incrementAndGet();
    group.barrier(patience);
  }

  @Override
  public void broadcast(MemorySegment data, long bytes, int root) {
    entered.incrementAndGet();
    group.broadcast(data, bytes, root);
  }

  @Override
  public void allReduceSum(MemorySegment floats, long count) {
    entered.incrementAndGet();
    group.allReduceSum(floats, count);
  }

  @Override
  public void reduceScatterSum(MemorySegment floats, long count) {
    entered.incrementAndGet();
    group.reduceScatterSum(floats, count);
  }

  @Override
  public void allGather(MemorySegment floats, long count) {
    entered.incrementAndGet();
    group.allGather(floats, count);
  }

  @Override
  public Shard shard(long count, int r) {
    return group.shard(count, r);
  }

  /**
   * The group {@code members}, not counted: its operations go on among its own ranks, in an order
   * of their own, so the job's count names the rank others wait for only in the job's operations.
   */
  @Override
  public Collective split(int[] members) {
    entered.incrementAndGet();
    return group.split(members);
  }

  @Override
  public void abort(String reason) {
    group.abort(reason);
  }

  @Override
  public void close() {
    group.close();
  }
}
