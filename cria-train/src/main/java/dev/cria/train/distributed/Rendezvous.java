package dev.cria.train.distributed;

import dev.cria.engine.parallel.CollectiveException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * How the ranks of a job find each other and build the TCP ring, letting in only the job's own.
 *
 * <p>Rank 0 listens on the master address (only there: loopback for {@code --nproc}); the others
 * connect to it, prove the job secret ({@link Handshake}), give their rank and the port of their
 * ring listener (bound to the address they reached rank 0 from), and receive everyone's ring
 * address. Then each rank connects to the next one, again proving the secret, and accepts the
 * previous one. Every accepted connection is challenged on its own virtual thread with a short
 * handshake timeout, so a stranger that stays silent, sends garbage or a wrong proof is dropped and
 * logged while the job's ranks go on joining. A stop (SIGTERM) ends the wait at once.
 */
final class Rendezvous {
  /** The two connections of this rank in the ring. */
  record Ring(SocketChannel toNext, SocketChannel fromPrev) {}

  private final RankEnvironment env;
  private final JobKey key;
  private final JoinSettings settings;
  private final long deadline;

  private Rendezvous(RankEnvironment env, JobKey key, JoinSettings settings) {
    this.env = env;
    this.key = key;
    this.settings = settings;
    this.deadline = System.nanoTime() + settings.joinTimeout().toNanos();
  }

  /** Joins the ring of {@code env}'s job; the connections are blocking. */
  static Ring join(RankEnvironment env, JobKey key, JoinSettings settings) {
    Rendezvous r = new Rendezvous(env, key, settings);
    try {
      return r.join();
    } catch (IOException e) {
      throw new CollectiveException(
          r.prefix()
              + "joining the group at "
              + env.masterAddr()
              + ":"
              + env.masterPort()
              + " failed: "
              + e.getMessage(),
          e);
    }
  }

  private Ring join() throws IOException {
    int world = env.worldSize();
    InetAddress master = InetAddress.getByName(env.masterAddr());
    // not try-with-resources: closing would wait for the handshakes of strangers still going on
    ExecutorService handshakes = Executors.newVirtualThreadPerTaskExecutor();
    try {
      List<InetSocketAddress> ringAddresses;
      ServerSocketChannel ringListener = ServerSocketChannel.open();
      try {
        if (env.rank() == 0) {
          ringListener.bind(new InetSocketAddress(master, 0), world);
          ringAddresses = gather(master, port(ringListener), handshakes);
        } else {
          ringAddresses = report(ringListener);
        }
        return ring(
            ringListener, ringAddresses, env.rank(), Handshake.TO_RING, "rank ", handshakes);
      } finally {
        ringListener.close();
      }
    } finally {
      handshakes.shutdownNow();
    }
  }

  /**
   * Builds a ring among {@code members} (listener addresses, in ring order) in which this rank is
   * {@code me}, on {@code listener} (bound already, closed by the caller), with the same proofs as
   * the job's ring: the rails of {@link HierarchicalCollective}, one per rank index within a host.
   */
  static Ring rail(
      RankEnvironment env,
      JobKey key,
      JoinSettings settings,
      ServerSocketChannel listener,
      List<InetSocketAddress> members,
      int me) {
    Rendezvous r = new Rendezvous(env, key, settings);
    ExecutorService handshakes = Executors.newVirtualThreadPerTaskExecutor();
    try {
      return r.ring(listener, members, me, Handshake.TO_RAIL, "the rail's rank ", handshakes);
    } catch (IOException e) {
      throw new CollectiveException(r.prefix() + "building its rail failed: " + e.getMessage(), e);
    } finally {
      handshakes.shutdownNow();
    }
  }

  /** Connects to the next member of a ring and accepts the previous one. */
  private Ring ring(
      ServerSocketChannel listener,
      List<InetSocketAddress> addresses,
      int me,
      int purpose,
      String member,
      ExecutorService handshakes)
      throws IOException {
    int world = addresses.size();
    int next = (me + 1) % world;
    int prev = (me + world - 1) % world;
    Future<SocketChannel> toNext =
        handshakes.submit(() ->
            connect(
                addresses.get(next), new Handshake.Claims(purpose, me, world, 0), member + next));
    SocketChannel fromPrev;
    try {
      fromPrev = acceptRing(listener, purpose, prev, world, handshakes);
    } catch (RuntimeException | IOException e) {
      toNext.cancel(true);
      throw e;
    }
    try {
      return new Ring(await(toNext), fromPrev);
    } catch (RuntimeException e) {
      fromPrev.close();
      throw e;
    }
  }

  /**
   * Rank 0: accepts every other rank's proven introduction and sends everyone the table of ring
   * addresses, each peer's host as rank 0 sees it.
   */
  private List<InetSocketAddress> gather(
      InetAddress masterAddress, int ringPort, ExecutorService handshakes) throws IOException {
    int world = env.worldSize();
    InetSocketAddress[] ring = new InetSocketAddress[world];
    SocketChannel[] peers = new SocketChannel[world];
    ring[0] = new InetSocketAddress(masterAddress, ringPort);
    try (ServerSocketChannel master = ServerSocketChannel.open()) {
      master.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      master.bind(new InetSocketAddress(masterAddress, env.masterPort()), world);
      LinkedBlockingQueue<Arrival> arrivals = new LinkedBlockingQueue<>();
      int joined = 1;
      while (joined < world) {
        Arrival a = nextArrival(master, arrivals, handshakes, (world - joined) + " more rank(s)");
        Handshake.Claims c = a.claims();
        if (c.purpose() != Handshake.TO_MASTER
            || c.world() != world
            || c.rank() <= 0
            || c.rank() >= world) {
          a.channel().close();
          throw new CollectiveException(
              prefix()
                  + "a rank of this job at "
                  + a.from()
                  + " joined as rank "
                  + c.rank()
                  + " of "
                  + c.world()
                  + "; this job has "
                  + world
                  + " ranks (are the world sizes of the ranks the same?)");
        }
        if (peers[c.rank()] != null) {
          a.channel().close();
          settings
              .log()
              .accept(prefix() + "dropped a second rank " + c.rank() + " from " + a.from());
          continue;
        }
        peers[c.rank()] = a.channel();
        ring[c.rank()] = new InetSocketAddress(a.from(), c.port());
        joined++;
      }
      ByteBuffer table = ByteBuffer.allocate(64 * 1024);
      for (InetSocketAddress address : ring) {
        byte[] host = address.getAddress().getHostAddress().getBytes(StandardCharsets.UTF_8);
        table.putShort((short) host.length).put(host).putInt(address.getPort());
      }
      table.flip();
      for (int r = 1; r < world; r++) {
        Handshake.write(peers[r], table.duplicate());
      }
      return List.of(ring);
    } finally {
      for (SocketChannel p : peers) {
        if (p != null) {
          p.close();
        }
      }
    }
  }

  /**
   * Ranks above 0: introduce themselves to rank 0 with the port of a ring listener bound to the
   * address that reaches rank 0, and receive the table of ring addresses.
   */
  private List<InetSocketAddress> report(ServerSocketChannel ringListener) throws IOException {
    InetSocketAddress master = new InetSocketAddress(env.masterAddr(), env.masterPort());
    SocketChannel channel = connectOnly(master, "rank 0 (the master)");
    try (channel) {
      InetAddress local = ((InetSocketAddress) channel.getLocalAddress()).getAddress();
      ringListener.bind(new InetSocketAddress(local, 0), env.worldSize());
      handshake(
          channel,
          new Handshake.Claims(
              Handshake.TO_MASTER, env.rank(), env.worldSize(), port(ringListener)),
          "rank 0 at " + master);
      List<InetSocketAddress> ring = new ArrayList<>();
      for (int r = 0; r < env.worldSize(); r++) {
        int length = table(channel, 2).getShort();
        String host = StandardCharsets.UTF_8.decode(table(channel, length)).toString();
        int port = table(channel, 4).getInt();
        ring.add(new InetSocketAddress(host, port));
      }
      return ring;
    }
  }

  private ByteBuffer table(SocketChannel channel, int bytes) throws IOException {
    ByteBuffer b = Handshake.read(channel, bytes, deadline, settings.stopped());
    if (b == null) {
      throw new CollectiveException(
          prefix() + "rank 0 closed the connection or sent nothing before the join timeout");
    }
    return b;
  }

  /** Accepts connections on a ring listener until member {@code prev} has proven itself. */
  private SocketChannel acceptRing(
      ServerSocketChannel listener, int purpose, int prev, int world, ExecutorService handshakes)
      throws IOException {
    LinkedBlockingQueue<Arrival> arrivals = new LinkedBlockingQueue<>();
    while (true) {
      Arrival a = nextArrival(listener, arrivals, handshakes, "rank " + prev);
      Handshake.Claims c = a.claims();
      if (c.purpose() == purpose && c.rank() == prev && c.world() == world) {
        return a.channel();
      }
      a.channel().close();
      settings
          .log()
          .accept(
              prefix()
                  + "dropped a ring connection from "
                  + a.from()
                  + " that claimed rank "
                  + c.rank()
                  + " of "
                  + c.world()
                  + "; expected rank "
                  + prev);
    }
  }

  /** A connection that proved the secret, and what it claimed. */
  private record Arrival(SocketChannel channel, InetAddress from, Handshake.Claims claims) {}

  /**
   * Accepts on {@code server} and challenges each connection on its own virtual thread, until one
   * proves the secret; refused ones are logged and closed.
   */
  private Arrival nextArrival(
      ServerSocketChannel server,
      LinkedBlockingQueue<Arrival> arrivals,
      ExecutorService handshakes,
      String waitingFor)
      throws IOException {
    server.configureBlocking(false);
    while (true) {
      Arrival ready = arrivals.poll();
      if (ready != null) {
        return ready;
      }
      if (settings.stopped().getAsBoolean()) {
        throw new JoinStopped();
      }
      if (System.nanoTime() > deadline) {
        throw new CollectiveException(
            prefix() + "waited for " + waitingFor + " to join until the join timeout");
      }
      SocketChannel channel = server.accept();
      if (channel == null) {
        try {
          ready = arrivals.poll(10, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new JoinStopped();
        }
        if (ready != null) {
          return ready;
        }
        continue;
      }
      channel.configureBlocking(true);
      channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
      InetAddress from = ((InetSocketAddress) channel.getRemoteAddress()).getAddress();
      handshakes.submit(() -> {
        try {
          Handshake.Claims claims =
              Handshake.accept(
                  channel, key, settings.handshakeTimeout().toNanos(), settings.stopped());
          arrivals.add(new Arrival(channel, from, claims));
        } catch (Handshake.Refused e) {
          settings
              .log()
              .accept(prefix() + "refused a connection from " + from + ": " + e.getMessage());
          closeQuietly(channel);
        } catch (IOException | RuntimeException e) {
          boolean ended = e instanceof JoinStopped || Thread.currentThread().isInterrupted();
          settings
              .log()
              .accept(
                  prefix()
                      + "dropped a connection from "
                      + from
                      + (ended
                          ? ": the join ended before it proved the job secret"
                          : ": " + e.getMessage()));
          closeQuietly(channel);
        }
        return null;
      });
    }
  }

  /** Connects to a peer's ring listener and proves the secret. */
  private SocketChannel connect(InetSocketAddress to, Handshake.Claims claims, String who)
      throws IOException {
    SocketChannel channel = connectOnly(to, who);
    try {
      handshake(channel, claims, who + " at " + to);
      return channel;
    } catch (RuntimeException | IOException e) {
      channel.close();
      throw e;
    }
  }

  private void handshake(SocketChannel channel, Handshake.Claims claims, String who)
      throws IOException {
    try {
      // the peer answers once it accepts, which may be a while (until the join timeout)
      long left = Math.max(1, deadline - System.nanoTime());
      Handshake.connect(channel, key, claims, left, settings.stopped());
    } catch (Handshake.Refused e) {
      throw new CollectiveException(prefix() + who + ": " + e.getMessage());
    }
  }

  /** Connects to {@code to}, retrying until the join timeout (the peer may not listen yet). */
  private SocketChannel connectOnly(InetSocketAddress to, String who) throws IOException {
    IOException last = null;
    while (System.nanoTime() < deadline) {
      if (settings.stopped().getAsBoolean()) {
        throw new JoinStopped();
      }
      SocketChannel channel = SocketChannel.open();
      try {
        channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        channel.connect(to);
        return channel;
      } catch (IOException e) {
        channel.close();
        last = e;
        sleep(50);
      }
    }
    throw new CollectiveException(
        prefix()
            + "could not reach "
            + who
            + " at "
            + to
            + " before the join timeout"
            + (last != null ? " (" + last.getMessage() + ")" : ""));
  }

  private SocketChannel await(Future<SocketChannel> f) throws IOException {
    try {
      return f.get();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      throw new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new JoinStopped();
    }
  }

  private static int port(ServerSocketChannel s) throws IOException {
    return ((InetSocketAddress) s.getLocalAddress()).getPort();
  }

  private static void closeQuietly(SocketChannel channel) {
    try {
      channel.close();
    } catch (IOException e) {
      // dropping it anyway
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new JoinStopped();
    }
  }

  private String prefix() {
    return "rank " + env.rank() + ": ";
  }
}
