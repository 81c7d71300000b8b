package dev.cria.train.distributed;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Collectives over TCP in a ring: rank {@code r} sends to rank {@code r+1} and receives from rank
 * {@code r-1}. All-reduce is a reduce-scatter followed by an all-gather, each {@code world-1} steps
 * in which every rank sends one shard and receives another at the same time (non-blocking channels,
 * so neither direction waits for the other). Data goes between the off-heap buffers and the sockets
 * directly; sums are taken from a small off-heap scratch as the bytes arrive.
 *
 * <p>Joining: rank 0 listens on the master address; the others connect to it (retrying until the
 * join timeout), say their rank and the port of their ring listener, and receive everyone's
 * address, rank 0 taking each peer's address as it sees it. Then each rank connects to the next. A
 * peer that closes its connection or sends nothing for the operation timeout fails the operation on
 * every rank that waits for it, with a message naming the peer.
 */
public final class TcpCollective implements Collective {
  private static final int MAGIC = 0x43524941; // "CRIA"
  private static final int RECEIVE_WINDOW = 4 << 20; // bytes summed at a time
  private static final int IO_WINDOW = 256 << 20; // bytes per ByteBuffer view
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

  private final RankEnvironment env;
  private final Duration timeout;
  private Duration current; // the timeout of the operation in progress
  private final SocketChannel toNext;
  private final SocketChannel fromPrev;
  private final Selector selector;
  private final SelectionKey sendKey;
  private final SelectionKey receiveKey;
  private final Arena arena = Arena.ofShared();
  private final MemorySegment scratch;
  private final MemorySegment token;
  private String operation = "setup";

  private TcpCollective(
      RankEnvironment env, Duration timeout, SocketChannel toNext, SocketChannel fromPrev)
      throws IOException {
    this.env = env;
    this.timeout = timeout;
    this.current = timeout;
    this.toNext = toNext;
    this.fromPrev = fromPrev;
    toNext.configureBlocking(false);
    fromPrev.configureBlocking(false);
    this.selector = Selector.open();
    this.sendKey = toNext.register(selector, 0);
    this.receiveKey = fromPrev.register(selector, 0);
    this.scratch = arena.allocate(RECEIVE_WINDOW, 64);
    this.token = arena.allocate((long) Float.BYTES * env.worldSize(), 64);
  }

  /**
   * Joins the group described by {@code env}.
   *
   * @param joinTimeout how long to wait for every rank to join
   * @param timeout how long an operation may wait for a peer without receiving or sending a byte
   */
  public static Collective join(RankEnvironment env, Duration joinTimeout, Duration timeout) {
    if (env.worldSize() == 1) {
      return new SingleRank();
    }
    long deadline = System.nanoTime() + joinTimeout.toNanos();
    try (ServerSocketChannel ring = ServerSocketChannel.open()) {
      ring.bind(new InetSocketAddress(0), env.worldSize());
      int ringPort = ((InetSocketAddress) ring.getLocalAddress()).getPort();
      List<InetSocketAddress> addresses =
          env.rank() == 0 ? gather(env, ringPort, deadline) : report(env, ringPort, deadline);
      InetSocketAddress next = addresses.get((env.rank() + 1) % env.worldSize());
      int prevRank = (env.rank() + env.worldSize() - 1) % env.worldSize();
      SocketChannel toNext =
          connect(next, deadline, env, "rank " + (env.rank() + 1) % env.worldSize());
      try {
        ByteBuffer hello = ByteBuffer.allocate(8).putInt(MAGIC).putInt(env.rank()).flip();
        writeFully(toNext, hello);
        SocketChannel fromPrev = accept(ring, deadline, env, "rank " + prevRank);
        ByteBuffer theirs = readFully(fromPrev, 8, deadline, env, "rank " + prevRank);
        if (theirs.getInt() != MAGIC || theirs.getInt() != prevRank) {
          fromPrev.close();
          throw new CollectiveException(
              prefix(env)
                  + "the ring connection from rank "
                  + prevRank
                  + " did not introduce itself as rank "
                  + prevRank);
        }
        return new TcpCollective(env, timeout, toNext, fromPrev);
      } catch (IOException | RuntimeException e) {
        toNext.close();
        throw e;
      }
    } catch (IOException e) {
      throw new CollectiveException(
          prefix(env)
              + "joining the group at "
              + env.masterAddr()
              + ":"
              + env.masterPort()
              + " failed: "
              + e.getMessage(),
          e);
    }
  }

  /**
   * Rank 0: accepts every other rank's introduction and sends everyone the table of ring addresses.
   */
  private static List<InetSocketAddress> gather(RankEnvironment env, int ringPort, long deadline)
      throws IOException {
    int world = env.worldSize();
    InetSocketAddress[] ring = new InetSocketAddress[world];
    SocketChannel[] peers = new SocketChannel[world];
    ring[0] = new InetSocketAddress(env.masterAddr(), ringPort);
    try (ServerSocketChannel master = ServerSocketChannel.open()) {
      master.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      master.bind(new InetSocketAddress(env.masterPort()), world);
      for (int joined = 1; joined < world; joined++) {
        SocketChannel peer = accept(master, deadline, env, (world - joined) + " more rank(s)");
        ByteBuffer hello = readFully(peer, 16, deadline, env, "a joining rank");
        int magic = hello.getInt();
        int rank = hello.getInt();
        int theirWorld = hello.getInt();
        int port = hello.getInt();
        if (magic != MAGIC
            || rank <= 0
            || rank >= world
            || theirWorld != world
            || peers[rank] != null) {
          peer.close();
          throw new CollectiveException(
              prefix(env)
                  + "a process at "
                  + peer.socket().getInetAddress()
                  + " joined as rank "
                  + rank
                  + " of "
                  + theirWorld
                  + "; expected a new rank of "
                  + world);
        }
        peers[rank] = peer;
        ring[rank] =
            new InetSocketAddress(((InetSocketAddress) peer.getRemoteAddress()).getAddress(), port);
      }
      ByteBuffer table = ByteBuffer.allocate(64 * 1024);
      for (InetSocketAddress a : ring) {
        byte[] host = a.getHostString().getBytes(StandardCharsets.UTF_8);
        table.putShort((short) host.length).put(host).putInt(a.getPort());
      }
      table.flip();
      for (int r = 1; r < world; r++) {
        writeFully(peers[r], table.duplicate());
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

  /** Ranks above 0: introduce themselves to rank 0 and receive the table of ring addresses. */
  private static List<InetSocketAddress> report(RankEnvironment env, int ringPort, long deadline)
      throws IOException {
    InetSocketAddress master = new InetSocketAddress(env.masterAddr(), env.masterPort());
    try (SocketChannel channel = connect(master, deadline, env, "rank 0 (the master)")) {
      writeFully(
          channel,
          ByteBuffer.allocate(16)
              .putInt(MAGIC)
              .putInt(env.rank())
              .putInt(env.worldSize())
              .putInt(ringPort)
              .flip());
      List<InetSocketAddress> ring = new ArrayList<>();
      for (int r = 0; r < env.worldSize(); r++) {
        int length = readFully(channel, 2, deadline, env, "rank 0").getShort();
        String host =
            StandardCharsets.UTF_8
                .decode(readFully(channel, length, deadline, env, "rank 0"))
                .toString();
        int port = readFully(channel, 4, deadline, env, "rank 0").getInt();
        ring.add(new InetSocketAddress(host, port));
      }
      return ring;
    }
  }

  private static SocketChannel connect(
      InetSocketAddress to, long deadline, RankEnvironment env, String who) throws IOException {
    IOException last = null;
    while (System.nanoTime() < deadline) {
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
        prefix(env)
            + "could not reach "
            + who
            + " at "
            + to
            + " before the join timeout"
            + (last != null ? " (" + last.getMessage() + ")" : ""));
  }

  private static SocketChannel accept(
      ServerSocketChannel server, long deadline, RankEnvironment env, String who)
      throws IOException {
    server.configureBlocking(false);
    while (System.nanoTime() < deadline) {
      SocketChannel channel = server.accept();
      if (channel != null) {
        channel.configureBlocking(true);
        channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        return channel;
      }
      sleep(10);
    }
    throw new CollectiveException(
        prefix(env) + "waited for " + who + " to connect until the join timeout");
  }

  private static ByteBuffer readFully(
      SocketChannel channel, int bytes, long deadline, RankEnvironment env, String who)
      throws IOException {
    ByteBuffer b = ByteBuffer.allocate(bytes);
    channel.socket().setSoTimeout((int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
    // The socket's own stream honours the timeout (a blocking channel's read would not); closing it
    // would close the socket, so it is left open.
    java.io.InputStream in = channel.socket().getInputStream();
    try {
      while (b.hasRemaining()) {
        int n = in.read(b.array(), b.position(), b.remaining());
        if (n < 0) {
          throw new CollectiveException(prefix(env) + who + " closed the connection while joining");
        }
        b.position(b.position() + n);
      }
    } catch (java.net.SocketTimeoutException e) {
      throw new CollectiveException(prefix(env) + who + " sent nothing before the join timeout");
    }
    return b.flip();
  }

  private static void writeFully(SocketChannel channel, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      channel.write(b);
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CollectiveException("interrupted while joining");
    }
  }

  private static String prefix(RankEnvironment env) {
    return "rank " + env.rank() + ": ";
  }

  @Override
  public int rank() {
    return env.rank();
  }

  @Override
  public int worldSize() {
    return env.worldSize();
  }

  private int next() {
    return (env.rank() + 1) % env.worldSize();
  }

  private int prev() {
    return (env.rank() + env.worldSize() - 1) % env.worldSize();
  }

  @Override
  public void barrier() {
    token.fill((byte) 0);
    operation = "barrier";
    ring(token, env.worldSize(), true, true);
  }

  @Override
  public void barrier(Duration patience) {
    current = patience;
    try {
      barrier();
    } finally {
      current = timeout;
    }
  }

  @Override
  public void broadcast(MemorySegment data, long bytes, int root) {
    operation = "broadcast";
    MemorySegment none = MemorySegment.NULL;
    for (long at = 0; at < bytes; at += RECEIVE_WINDOW) {
      MemorySegment window = data.asSlice(at, Math.min(RECEIVE_WINDOW, bytes - at));
      if (env.rank() == root) {
        exchange(window, none, false);
      } else {
        exchange(none, window, false);
        if (next() != root) {
          exchange(window, none, false);
        }
      }
    }
  }

  @Override
  public void allReduceSum(MemorySegment floats, long count) {
    operation = "all-reduce";
    ring(floats, count, true, true);
  }

  @Override
  public void reduceScatterSum(MemorySegment floats, long count) {
    operation = "reduce-scatter";
    ring(floats, count, true, false);
  }

  @Override
  public void allGather(MemorySegment floats, long count) {
    operation = "all-gather";
    ring(floats, count, false, true);
  }

  /**
   * The ring: in reduce-scatter step {@code s} rank {@code r} sends shard {@code r-s-1} and adds
   * the incoming shard {@code r-s-2}, so that after {@code world-1} steps it holds the sum of shard
   * {@code r}; in all-gather step {@code s} it sends shard {@code r-s} and stores shard {@code
   * r-s-1}.
   */
  private void ring(MemorySegment floats, long count, boolean reduce, boolean gather) {
    int world = env.worldSize();
    int r = env.rank();
    if (reduce) {
      for (int s = 0; s < world - 1; s++) {
        exchange(shard(floats, count, r - s - 1), shard(floats, count, r - s - 2), true);
      }
    }
    if (gather) {
      for (int s = 0; s < world - 1; s++) {
        exchange(shard(floats, count, r - s), shard(floats, count, r - s - 1), false);
      }
    }
  }

  private MemorySegment shard(MemorySegment floats, long count, int index) {
    int world = env.worldSize();
    int i = Math.floorMod(index, world);
    long from = Collective.shardStart(count, world, i);
    long to = Collective.shardStart(count, world, i + 1);
    return floats.asSlice(from * Float.BYTES, (to - from) * Float.BYTES);
  }

  /**
   * Sends {@code out} to the next rank while receiving {@code in.byteSize()} bytes from the
   * previous one, into {@code in} or, with {@code add}, summed into it as floats.
   */
  private void exchange(MemorySegment out, MemorySegment in, boolean add) {
    long outPos = 0;
    long inPos = 0;
    long outLen = out.byteSize();
    long inLen = in.byteSize();
    ByteBuffer send = null;
    ByteBuffer receive = null;
    long receiveStart = 0;
    long lastProgress = System.nanoTime();
    try {
      while (outPos < outLen || inPos < inLen) {
        boolean progress = false;
        if (outPos < outLen) {
          if (send == null || !send.hasRemaining()) {
            send = out.asSlice(outPos, Math.min(IO_WINDOW, outLen - outPos)).asByteBuffer();
          }
          int n = toNext.write(send);
          outPos += n;
          progress |= n > 0;
        }
        if (inPos < inLen) {
          if (receive == null) {
            receiveStart = inPos;
            long size = Math.min(add ? RECEIVE_WINDOW : IO_WINDOW, inLen - inPos);
            receive = (add ? scratch.asSlice(0, size) : in.asSlice(inPos, size)).asByteBuffer();
          }
          int n = fromPrev.read(receive);
          if (n < 0) {
            throw new CollectiveException(
                prefix(env)
                    + "rank "
                    + prev()
                    + " closed its connection during "
                    + operation
                    + " (did it stop or die?)");
          }
          inPos += n;
          progress |= n > 0;
          if (!receive.hasRemaining()) {
            if (add) {
              addFloats(in, receiveStart, scratch, receive.capacity());
            }
            receive = null;
          }
        }
        if (progress) {
          lastProgress = System.nanoTime();
          continue;
        }
        long waited = System.nanoTime() - lastProgress;
        if (waited > current.toNanos()) {
          throw new CollectiveException(
              prefix(env)
                  + "nothing from rank "
                  + prev()
                  + " or to rank "
                  + next()
                  + " for "
                  + current.toSeconds()
                  + " s during "
                  + operation
                  + " (a peer is stuck, gone, or the"
                  + " network is cut)");
        }
        sendKey.interestOps(outPos < outLen ? SelectionKey.OP_WRITE : 0);
        receiveKey.interestOps(inPos < inLen ? SelectionKey.OP_READ : 0);
        selector.select(Math.max(1, (current.toNanos() - waited) / 1_000_000));
        selector.selectedKeys().clear();
      }
    } catch (IOException e) {
      throw new CollectiveException(
          prefix(env)
              + "connection to rank "
              + next()
              + " or from rank "
              + prev()
              + " failed during "
              + operation
              + ": "
              + e.getMessage(),
          e);
    }
  }

  /** {@code in[at..] += src[0..bytes)} as floats. */
  private static void addFloats(MemorySegment in, long at, MemorySegment src, long bytes) {
    long i = 0;
    long vectorBytes = (long) S.length() * Float.BYTES;
    for (; i + vectorBytes <= bytes; i += vectorBytes) {
      FloatVector.fromMemorySegment(S, in, at + i, NATIVE)
          .add(FloatVector.fromMemorySegment(S, src, i, NATIVE))
          .intoMemorySegment(in, at + i, NATIVE);
    }
    for (; i < bytes; i += Float.BYTES) {
      in.set(
          ValueLayout.JAVA_FLOAT_UNALIGNED,
          at + i,
          in.get(ValueLayout.JAVA_FLOAT_UNALIGNED, at + i)
              + src.get(ValueLayout.JAVA_FLOAT_UNALIGNED, i));
    }
  }

  @Override
  public void close() {
    try {
      selector.close();
      toNext.close();
      fromPrev.close();
    } catch (IOException e) {
      // closing: nothing left to save
    } finally {
      arena.close();
    }
  }

  /** The group of one: every operation is a no-op. */
  private static final class SingleRank implements Collective {
    @Override
    public int rank() {
      return 0;
    }

    @Override
    public int worldSize() {
      return 1;
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
    public void close() {}
  }
}
