package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;

/**
 * Collectives over TCP in a ring: rank {@code r} sends to rank {@code r+1} and receives from rank
 * {@code r-1}. All-reduce is a reduce-scatter followed by an all-gather, each {@code world-1} steps
 * in which every rank sends one shard and receives another at the same time (non-blocking channels,
 * so neither direction waits for the other). Data goes between the off-heap buffers and the sockets
 * directly; sums are taken from a small off-heap scratch as the bytes arrive.
 *
 * <p>The ring is built by {@link Rendezvous}, which lets in only the job's ranks. A peer that
 * closes its connection or sends nothing for the operation timeout fails the operation on every
 * rank that waits for it, with a message naming the peer.
 */
public final class TcpCollective implements Collective {
  private static final int RECEIVE_WINDOW = 256 << 10; // bytes summed at a time
  private static final int IO_WINDOW = 256 << 20; // bytes per ByteBuffer view

  private final RankEnvironment env;
  private final JobKey key; // what its connections proved: its split() groups prove it too
  private final JoinSettings settings;
  private final OperationTimeout timeout;
  private final SocketChannel toNext;
  private final SocketChannel fromPrev;
  private final Selector selector;
  private final SelectionKey sendKey;
  private final SelectionKey receiveKey;
  private final Arena arena = Arena.ofShared();
  private final MemorySegment scratch;
  private final MemorySegment token;
  private String operation = "setup";
  private volatile String aborted; // set by abort(), from any thread

  private TcpCollective(
      RankEnvironment env,
      JobKey key,
      JoinSettings settings,
      SocketChannel toNext,
      SocketChannel fromPrev)
      throws IOException {
    this.env = env;
    this.key = key;
    this.settings = settings;
    this.timeout = new OperationTimeout(settings.timeout());
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
   * Joins the ring of {@code env}'s job, letting in only ranks that prove {@code key} ({@link
   * Rendezvous}).
   */
  public static Collective join(RankEnvironment env, JobKey key, JoinSettings settings) {
    if (env.worldSize() == 1) {
      return Collective.single();
    }
    return over(Rendezvous.join(env, key, settings), env, key, settings);
  }

  /**
   * The ring {@code ring} (joined and proven already) as a group in which this rank is {@code
   * env.rank()} of {@code env.worldSize()}: the job's ring, a rail of {@link
   * HierarchicalCollective} or a group of {@link #split}, all proven with {@code key}.
   */
  static TcpCollective over(
      Rendezvous.Ring ring, RankEnvironment env, JobKey key, JoinSettings settings) {
    try {
      return new TcpCollective(env, key, settings, ring.toNext(), ring.fromPrev());
    } catch (IOException e) {
      try {
        ring.toNext().close();
        ring.fromPrev().close();
      } catch (IOException ignored) {
        // already failing
      }
      throw new CollectiveException(
          prefix(env) + "setting up the ring failed: " + e.getMessage(), e);
    }
  }

  /** The address this rank reaches the next one from (where it listened in the join). */
  java.net.InetAddress localAddress() {
    try {
      return ((java.net.InetSocketAddress) toNext.getLocalAddress()).getAddress();
    } catch (IOException e) {
      throw new CollectiveException("rank " + env.rank() + ": " + e.getMessage(), e);
    }
  }

  /** Bytes a rank of a ring of {@code world} holds: the receive window and the token. */
  static long bufferBytes(int world) {
    return RECEIVE_WINDOW + (long) Float.BYTES * world;
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

  @Override
  public String transport() {
    return "tcp (a ring of " + env.worldSize() + " ranks)";
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
    timeout.patiently(patience, this::barrier);
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
        if (aborted != null) {
          throw new CollectiveException(aborted);
        }
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
              HostSum.add(in, receiveStart, scratch, 0, receive.capacity());
            }
            receive = null;
          }
        }
        if (progress) {
          lastProgress = System.nanoTime();
          continue;
        }
        long waited = System.nanoTime() - lastProgress;
        if (waited > timeout.now().toNanos()) {
          throw new CollectiveException(
              prefix(env)
                  + "nothing from rank "
                  + prev()
                  + " or to rank "
                  + next()
                  + " for "
                  + timeout.now().toSeconds()
                  + " s during "
                  + operation
                  + " (a peer is stuck, gone, or the"
                  + " network is cut)");
        }
        sendKey.interestOps(outPos < outLen ? SelectionKey.OP_WRITE : 0);
        receiveKey.interestOps(inPos < inLen ? SelectionKey.OP_READ : 0);
        selector.select(Math.max(1, (timeout.now().toNanos() - waited) / 1_000_000));
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

  /**
   * Shared memory for groups within hosts unless the job asked for TCP ({@code --collective tcp}),
   * else a TCP ring each ({@link SubGroups}).
   */
  @Override
  public Collective split(int[] members) {
    return SubGroups.split(this, members, localAddress(), env, key, settings);
  }

  /** Wakes the waiting loop, which fails with {@code reason}. */
  @Override
  public void abort(String reason) {
    aborted = reason;
    selector.wakeup();
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
}
