package dev.cria.engine.parallel;

import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

/**
 * Collective operations among the ranks of a job, on off-heap float buffers. Every rank calls the
 * same operations in the same order with the same sizes. A buffer of {@code count} floats is
 * divided into one shard per rank ({@link #shard}), so sizes the world size does not divide are
 * fine.
 *
 * <p>Only the contract lives here, in the engine, so that the model can one day call collectives
 * inside a layer; the transports that carry the data (shared memory, a TCP ring, shared memory
 * within hosts with TCP rails between them, Open MPI: {@code ShmCollective}, {@code TcpCollective},
 * {@code HierarchicalCollective}, {@code MpiCollective}) stay in cria-train's {@code
 * dev.cria.train.distributed}, which also picks one for a job.
 */
public interface Collective extends AutoCloseable {
  int rank();

  int worldSize();

  /** What carries the data, for logs: "shm (2 ranks on this host)", "tcp (a ring of 4 ranks)". */
  String transport();

  /** Returns once every rank has called it. */
  void barrier();

  /**
   * A barrier that waits up to {@code patience} for a peer, instead of the usual operation timeout:
   * for the places where one rank works alone for long (writing or checking a large checkpoint)
   * while the others wait. A peer that dies still fails it at once.
   */
  default void barrier(Duration patience) {
    barrier();
  }

  /**
   * Copies {@code bytes} bytes of {@code data} from rank {@code root} into every other rank's
   * {@code data}.
   */
  void broadcast(MemorySegment data, long bytes, int root);

  /**
   * Every rank's {@code floats[0, count)} becomes the element-wise sum over all ranks
   * (bit-identical everywhere).
   */
  void allReduceSum(MemorySegment floats, long count);

  /**
   * Leaves in this rank's shard of {@code floats[0, count)} the sum of that shard over all ranks.
   */
  void reduceScatterSum(MemorySegment floats, long count);

  /** Fills every rank's {@code floats[0, count)} with each rank's own shard. */
  void allGather(MemorySegment floats, long count);

  /** {@link #allReduceSum(MemorySegment, long)} of the f32 elements from {@code floats} on. */
  default void allReduceSum(View floats, long count) {
    allReduceSum(hostFloats(floats, count), count);
  }

  /** {@link #reduceScatterSum(MemorySegment, long)} of the f32 elements from {@code floats} on. */
  default void reduceScatterSum(View floats, long count) {
    reduceScatterSum(hostFloats(floats, count), count);
  }

  /** {@link #allGather(MemorySegment, long)} of the f32 elements from {@code floats} on. */
  default void allGather(View floats, long count) {
    allGather(hostFloats(floats, count), count);
  }

  /**
   * The host memory of {@code count} f32 elements from {@code floats} on: the transports here move
   * host memory (a backend whose buffers are elsewhere stages them).
   */
  private static MemorySegment hostFloats(View floats, long count) {
    floats.require(DType.F32, "a collective's buffer");
    return floats.buffer().asSlice(floats.byteOffset(), count * DType.F32.bytes());
  }

  /**
   * Fails the operation this rank is in, and every later one, with a {@link CollectiveException}
   * saying {@code reason}; callable from any thread (a watchdog's), at once. The peers then learn
   * of it as of a rank that failed. Open MPI cannot interrupt a call in progress: there it ends the
   * job ({@code MPI_Abort}), as Open MPI ends a job one of whose ranks failed.
   */
  void abort(String reason);

  /**
   * A group of some of this group's ranks, as {@code MPI_Comm_split} makes one: every rank calls it
   * at the same time, each with the ranks of its own new group ({@code members}: ranks of this
   * group, ascending, itself among them). The new groups must partition this group into groups of
   * the same size (the tensor-parallel groups of a job, or its data-parallel groups: {@link
   * ParallelDims}). In the new group a rank is numbered by its place in {@code members}. It uses
   * this group's kind of transport where it can (shared memory among ranks of one host, a TCP ring
   * among its members, an Open MPI communicator), is independent of this group once made, and is
   * closed by the caller; this group stays open.
   *
   * @throws IllegalArgumentException when {@code members} is not ascending, within the group, or
   *     without this rank
   * @throws UnsupportedOperationException by a group that cannot be split (a test's fake)
   */
  default Collective split(int[] members) {
    throw new UnsupportedOperationException(
        transport() + ": this group cannot be split into smaller ones");
  }

  /**
   * Checks {@code members} as {@link #split} takes them, for {@code group}; returns this rank's
   * place among them.
   */
  static int checkMembers(Collective group, int[] members) {
    if (members.length == 0) {
      throw new IllegalArgumentException("a group needs at least one rank");
    }
    int mine = -1;
    for (int i = 0; i < members.length; i++) {
      if (members[i] < 0 || members[i] >= group.worldSize()) {
        throw new IllegalArgumentException(
            "rank " + members[i] + " is not one of the group's " + group.worldSize());
      }
      if (i > 0 && members[i] <= members[i - 1]) {
        throw new IllegalArgumentException(
            "the members " + java.util.Arrays.toString(members) + " are not ascending");
      }
      if (members[i] == group.rank()) {
        mine = i;
      }
    }
    if (mine < 0) {
      throw new IllegalArgumentException(
          "rank "
              + group.rank()
              + " is not among the members "
              + java.util.Arrays.toString(members)
              + " of its own new group");
    }
    return mine;
  }

  @Override
  void close();

  /** The group of one process: every operation is a no-op. */
  static Collective single() {
    return new SingleRank();
  }

  /** Elements {@code [from, to)} of a buffer. */
  record Shard(long from, long to) {
    public long size() {
      return to - from;
    }
  }

  /**
   * Where rank {@code r}'s shard of a buffer of {@code count} floats lies: {@code
   * [shardStart(count, world, r), shardStart(count, world, r + 1))} unless the group says otherwise
   * (hierarchical collectives shard by host within each host's piece).
   */
  default Shard shard(long count, int r) {
    return new Shard(shardStart(count, worldSize(), r), shardStart(count, worldSize(), r + 1));
  }

  /** First element of shard {@code r} of {@code count} elements among {@code world} ranks. */
  static long shardStart(long count, int world, int r) {
    return Math.multiplyExact(count, (long) r) / world;
  }
}
