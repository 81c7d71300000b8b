package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * How cria's own transports make the smaller groups of {@link Collective#split}: shared memory
 * ({@link ShmCollective}) when every new group lies on one host and the job may use it, else a TCP
 * ring among each group's members, whose connections prove the job's key as the job's own ring's
 * did. The job's group carries the exchanges that set them up (names of mappings, addresses).
 */
final class SubGroups {
  private static final long ADDRESS = 64; // bytes per rank: length, address, port

  private SubGroups() {}

  /**
   * The group {@code members} of {@code job}, every rank calling at once with its own: this rank
   * listens for its ring at {@code here} (where it listened for the job's).
   */
  static Collective split(
      Collective job,
      int[] members,
      InetAddress here,
      RankEnvironment env,
      JobKey key,
      JoinSettings settings) {
    int me = Collective.checkMembers(job, members);
    if (members.length == 1) {
      return Collective.single(); // the groups have the same size: nobody exchanges anything
    }
    if (settings.kind() != CollectiveKind.TCP && onOneHost(job, members, settings)) {
      Optional<ShmCollective> shm = ShmCollective.attach(job, members, settings);
      if (shm.isPresent()) {
        return shm.get();
      }
    }
    return ring(job, here, members, me, env, key, settings);
  }

  /** Whether every rank's new group lies on its host (all ranks agree: a vote over {@code job}). */
  private static boolean onOneHost(Collective job, int[] members, JoinSettings settings) {
    Optional<HostGroups> hosts = HostGroups.discover(job, settings);
    boolean mine =
        hosts.isPresent()
            && java.util.Arrays.stream(members)
                .allMatch(m -> hosts.get().hostOf(m) == hosts.get().hostOf(job.rank()));
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment vote = arena.allocate(Float.BYTES);
      vote.set(ValueLayout.JAVA_FLOAT, 0, mine ? 1 : 0);
      job.allReduceSum(vote, 1);
      return vote.get(ValueLayout.JAVA_FLOAT, 0) == job.worldSize();
    }
  }

  /**
   * A TCP ring of {@code members} (ranks of {@code exchange}, this rank the {@code me}-th), built
   * as every other rank builds its own at the same time: the listeners' addresses go round {@code
   * exchange}, and each member connects to the next. The rails of {@link HierarchicalCollective}
   * are such rings.
   */
  static TcpCollective ring(
      Collective exchange,
      InetAddress here,
      int[] members,
      int me,
      RankEnvironment env,
      JobKey key,
      JoinSettings settings) {
    int world = exchange.worldSize();
    try (ServerSocketChannel listener = ServerSocketChannel.open();
        Arena arena = Arena.ofConfined()) {
      listener.bind(new InetSocketAddress(here, 0), members.length);
      int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
      MemorySegment table = arena.allocate(ADDRESS * world, 64);
      byte[] address = here.getAddress();
      long mine = ADDRESS * exchange.rank();
      table.set(ValueLayout.JAVA_INT, mine, address.length);
      MemorySegment.copy(address, 0, table, ValueLayout.JAVA_BYTE, mine + 4, address.length);
      table.set(ValueLayout.JAVA_INT, mine + 20, port);
      Records.allGather(exchange, table, ADDRESS);
      List<InetSocketAddress> addresses = new ArrayList<>();
      for (int m : members) {
        long at = ADDRESS * m;
        byte[] a = new byte[table.get(ValueLayout.JAVA_INT, at)];
        MemorySegment.copy(table, ValueLayout.JAVA_BYTE, at + 4, a, 0, a.length);
        addresses.add(
            new InetSocketAddress(
                InetAddress.getByAddress(a), table.get(ValueLayout.JAVA_INT, at + 20)));
      }
      Rendezvous.Ring ring = Rendezvous.rail(env, key, settings, listener, addresses, me);
      return TcpCollective.over(
          ring,
          new RankEnvironment(me, members.length, 0, env.masterAddr(), env.masterPort()),
          key,
          settings);
    } catch (IOException e) {
      throw new CollectiveException(
          "rank "
              + exchange.rank()
              + ": cannot set up the ring of its group "
              + java.util.Arrays.toString(members)
              + ": "
              + e.getMessage(),
          e);
    }
  }
}
