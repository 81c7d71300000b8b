package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Collectives for a job on several hosts with several ranks each (as NCCL's and Open MPI's
 * hierarchical algorithms): shared memory among the ranks of a host ({@link ShmCollective}), and
 * between hosts one TCP ring per local index, a rail, joining the j-th rank of every host. Only the
 * rails cross the network, each with 1/L of the data (L ranks per host), instead of the whole
 * buffer going round one ring of every rank.
 *
 * <p>Shards follow the two levels: a buffer is cut into L blocks, one per local index j (the shared
 * mapping's own shards), and block j into H pieces, one per host (the rail's shards); rank (h, j)
 * owns piece h of block j. Reduce-scatter: within the host (each rank ends with its host's sum of
 * its block), then along the rail (the sum over hosts of its piece). All-gather: the reverse.
 * All-reduce: the two. Each element is summed by its owner alone, then copied, so every rank holds
 * the same bits. Every host must have the same number of ranks.
 */
final class HierarchicalCollective implements Collective {
  private final int rank;
  private final int world;
  private final List<int[]> hosts;
  private final int local;
  private final ShmCollective shm;
  private final TcpCollective rail;
  private final RankEnvironment env; // the job's, with its key and settings: for split()
  private final JobKey key;
  private final JoinSettings settings;

  private HierarchicalCollective(
      int rank,
      List<int[]> hosts,
      int local,
      ShmCollective shm,
      TcpCollective rail,
      RankEnvironment env,
      JobKey key,
      JoinSettings settings) {
    this.env = env;
    this.key = key;
    this.settings = settings;
    this.rank = rank;
    this.world = hosts.size() * hosts.getFirst().length;
    this.hosts = hosts;
    this.local = local;
    this.shm = shm;
    this.rail = rail;
  }

  /**
   * Builds the hierarchy of {@code tcp}'s job (joined and proven; it stays open, and the caller
   * closes it once this returns): a shared mapping per host, then the rails, whose connections
   * prove {@code key} as the join did. Empty, with the reason logged by rank 0, when the hosts have
   * different numbers of ranks or one rank each, or when a host's ranks cannot share a mapping.
   */
  static Optional<Collective> build(
      TcpCollective tcp,
      HostGroups groups,
      RankEnvironment env,
      JobKey key,
      JoinSettings settings) {
    int perHost = groups.hosts().getFirst().length;
    if (!groups.uniform() || perHost == 1 || groups.hosts().size() == 1) {
      if (tcp.rank() == 0) {
        settings
            .log()
            .accept(
                "rank 0: the ranks are on "
                    + groups.describe()
                    + (groups.uniform()
                        ? ""
                        : "; hierarchical collectives need the same number on every host")
                    + ": using the TCP ring");
      }
      return Optional.empty();
    }
    int h = groups.hostOf(tcp.rank());
    int[] members = groups.membersOf(tcp.rank());
    int j = java.util.Arrays.binarySearch(members, tcp.rank());
    Optional<ShmCollective> shm = ShmCollective.attach(tcp, members, settings);
    if (shm.isEmpty()) {
      return Optional.empty();
    }
    try {
      TcpCollective rail = rail(tcp, groups, h, j, env, key, settings);
      return Optional.of(
          new HierarchicalCollective(
              tcp.rank(), groups.hosts(), j, shm.get(), rail, env, key, settings));
    } catch (RuntimeException e) {
      shm.get().close();
      throw e;
    }
  }

  /** Rail {@code j}: the j-th rank of every host, in the hosts' order; this rank is its h-th. */
  private static TcpCollective rail(
      TcpCollective tcp,
      HostGroups groups,
      int h,
      int j,
      RankEnvironment env,
      JobKey key,
      JoinSettings settings) {
    int[] members = groups.hosts().stream().mapToInt(ranks -> ranks[j]).toArray();
    // where this rank listened for the job's ring
    return SubGroups.ring(tcp, tcp.localAddress(), members, h, env, key, settings);
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
    return "hierarchical (shm among the "
        + hosts.getFirst().length
        + " ranks of each of "
        + hosts.size()
        + " hosts, TCP rails between them)";
  }

  /** Block {@code j} of a buffer of {@code count}: what local index j owns within a host. */
  private Shard block(long count, int j) {
    int perHost = hosts.getFirst().length;
    return new Shard(
        Collective.shardStart(count, perHost, j), Collective.shardStart(count, perHost, j + 1));
  }

  /** Rank {@code r}'s host h and index j within it. */
  private int[] position(int r) {
    for (int h = 0; h < hosts.size(); h++) {
      int j = java.util.Arrays.binarySearch(hosts.get(h), r);
      if (j >= 0) {
        return new int[] {h, j};
      }
    }
    throw new IllegalArgumentException("rank " + r + " of " + world);
  }

  @Override
  public Shard shard(long count, int r) {
    int[] at = position(r);
    Shard b = block(count, at[1]);
    return new Shard(
        b.from() + Collective.shardStart(b.size(), hosts.size(), at[0]),
        b.from() + Collective.shardStart(b.size(), hosts.size(), at[0] + 1));
  }

  @Override
  public void barrier() {
    shm.barrier();
    rail.barrier(); // every host's ranks have arrived
    shm.barrier();
  }

  @Override
  public void barrier(Duration patience) {
    shm.barrier(patience);
    rail.barrier(patience);
    shm.barrier(patience);
  }

  @Override
  public void broadcast(MemorySegment data, long bytes, int root) {
    int[] at = position(root);
    int h = at[0];
    int j = at[1];
    if (local == j) {
      rail.broadcast(data, bytes, h); // the root's rail first
    }
    shm.broadcast(data, bytes, j); // then within every host
  }

  @Override
  public void allReduceSum(MemorySegment floats, long count) {
    reduceScatterSum(floats, count);
    allGather(floats, count);
  }

  @Override
  public void reduceScatterSum(MemorySegment floats, long count) {
    shm.reduceScatterSum(floats, count);
    Shard b = block(count, local);
    rail.reduceScatterSum(floats.asSlice(b.from() * Float.BYTES, b.size() * Float.BYTES), b.size());
  }

  @Override
  public void allGather(MemorySegment floats, long count) {
    Shard b = block(count, local);
    rail.allGather(floats.asSlice(b.from() * Float.BYTES, b.size() * Float.BYTES), b.size());
    shm.allGather(floats, count);
  }

  /** Shared memory for groups within hosts, else a TCP ring each ({@link SubGroups}). */
  @Override
  public Collective split(int[] members) {
    return SubGroups.split(this, members, rail.localAddress(), env, key, settings);
  }

  @Override
  public void abort(String reason) {
    shm.abort(reason);
    rail.abort(reason);
  }

  @Override
  public void close() {
    try {
      shm.close();
    } finally {
      rail.close();
    }
  }
}
