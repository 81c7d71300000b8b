package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.locks.LockSupport;

/**
 * Collectives between the ranks of one host through one shared mapping (a file in {@code /dev/shm},
 * removed as soon as every rank has mapped it): no sockets, and each byte crosses the memory once.
 * Every rank has a slot of two halves; a round writes one half and the next round the other, and
 * one phase counter per rank (release/acquire) replaces both the "data is there" and the "slot may
 * be reused" messages: a rank writes a half again only after every rank has published the round
 * after the one that last read it.
 *
 * <ul>
 *   <li>Reduce-scatter: each rank copies into its slot the pieces of the other ranks' shards; each
 *       owner adds the others' pieces to its own in rank order. The owner alone computes its shard,
 *       so the sums are the same everywhere bit for bit.
 *   <li>All-gather: each rank copies a piece of its shard into its slot; the others copy it out.
 *   <li>All-reduce: reduce-scatter, then all-gather. Broadcast: the root's pieces, copied out.
 * </ul>
 *
 * <p>A rank that waits spins briefly, then yields, then parks, so a waiting communication thread
 * leaves the cores to compute. A peer that leaves (closes after an error) or whose process dies
 * fails the wait at once, naming it; one that makes no progress fails it after the timeout.
 */
final class ShmCollective implements Collective {
  private static final long MAGIC = 0x314d485341495243L; // "CRIASHM1"
  private static final long HEADER = 4096;
  private static final long LINE = 128; // one per rank: phase, pid, state
  private static final long HALF = 4L << 20; // bytes of each half of a slot
  private static final long NOTE = 1024; // bytes each rank says about its host's mapping
  private static final long STATE_IN = 1;
  private static final long STATE_LEFT = 2;
  private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();
  private static final SecureRandom RANDOM = new SecureRandom();

  private final int rank;
  private final int world;
  private final OperationTimeout timeout;
  private final JoinSettings settings; // for split()
  private final Arena arena;
  private final MemorySegment map;
  private final long dataStart;
  private final long[] pids;
  private long phase;
  private String operation = "setup";
  private boolean closed;
  private volatile String aborted; // set by abort(), from any thread

  private ShmCollective(
      int rank, int world, JoinSettings settings, Arena arena, MemorySegment map) {
    this.rank = rank;
    this.world = world;
    this.settings = settings;
    this.timeout = new OperationTimeout(settings.timeout());
    this.arena = arena;
    this.map = map;
    this.dataStart = dataStart(world);
    this.pids = new long[world];
  }

  private static long dataStart(int world) {
    return HEADER + align(world * LINE, 4096);
  }

  /** Bytes of the mapping of {@code world} ranks (header, a line each, two halves each). */
  static long size(int world) {
    return dataStart(world) + world * 2 * HALF;
  }

  private static long align(long v, long a) {
    return (v + a - 1) / a * a;
  }

  /**
   * Moves the group {@code tcp} (already joined and proven) onto a shared mapping when every rank
   * can map the same one, which means they share a host (and, in containers, {@code /dev/shm}).
   * Returns empty, with the reason logged, when any rank cannot; then the caller keeps {@code tcp}.
   */
  static Optional<ShmCollective> attach(Collective tcp, JoinSettings settings) {
    int[] everyone = new int[tcp.worldSize()];
    java.util.Arrays.setAll(everyone, q -> q);
    return attach(tcp, everyone, settings);
  }

  /**
   * Gives the ranks {@code members} of {@code tcp} (this rank among them, ascending), those on this
   * rank's host, a shared mapping of their own, as every other host's ranks do at the same time:
   * the lowest creates it and tells the others its name and a random tag it wrote in it, through
   * {@code tcp}. Returns empty on every rank, with the reason logged, when any rank of the job
   * cannot map its host's; the ranks are numbered by their place in {@code members}.
   */
  static Optional<ShmCollective> attach(Collective tcp, int[] members, JoinSettings settings) {
    int local = java.util.Arrays.binarySearch(members, tcp.rank());
    if (local < 0) {
      throw new IllegalArgumentException("rank " + tcp.rank() + " is not among its members");
    }
    int world = members.length;
    int leader = members[0];
    Arena arena = Arena.ofShared();
    MemorySegment map = null;
    Path file = null;
    String failure = null;
    // every host's first rank creates its file and says its name and tag in its note
    MemorySegment notes = Arena.ofAuto().allocate(NOTE * tcp.worldSize(), 64);
    long mine = NOTE * tcp.rank();
    long theirs = NOTE * leader;
    byte[] tag = new byte[16];
    if (local == 0) {
      RANDOM.nextBytes(tag);
      try {
        file = create(settings.shmDirectory(), world, tag);
        map = mapFile(file, size(world), arena);
        notes.set(ValueLayout.JAVA_INT, mine, 1);
        byte[] name = file.toString().getBytes(StandardCharsets.UTF_8);
        notes.set(ValueLayout.JAVA_INT, mine + 4, name.length);
        MemorySegment.copy(name, 0, notes, ValueLayout.JAVA_BYTE, mine + 8, name.length);
        MemorySegment.copy(tag, 0, notes, ValueLayout.JAVA_BYTE, mine + 1000, 16);
      } catch (IOException | RuntimeException e) {
        failure = "cannot create a shared mapping: " + e.getMessage();
      }
    }
    Records.allGather(tcp, notes, NOTE);
    String first = "rank " + leader;
    if (local != 0) {
      if (notes.get(ValueLayout.JAVA_INT, theirs) != 1) {
        failure = first + " could not create a shared mapping";
      } else {
        byte[] name = new byte[notes.get(ValueLayout.JAVA_INT, theirs + 4)];
        MemorySegment.copy(notes, ValueLayout.JAVA_BYTE, theirs + 8, name, 0, name.length);
        MemorySegment.copy(notes, ValueLayout.JAVA_BYTE, theirs + 1000, tag, 0, 16);
        file = Path.of(new String(name, StandardCharsets.UTF_8));
        try {
          map = mapFile(file, size(world), arena);
          if (map.get(ValueLayout.JAVA_LONG, 0) != MAGIC
              || map.get(ValueLayout.JAVA_INT, 8) != world
              || !MemorySegment.ofArray(tag)
                  .asByteBuffer()
                  .equals(map.asSlice(16, 16).asByteBuffer())) {
            failure = first + "'s shared mapping " + file + " is not the one here (another host?)";
          }
        } catch (IOException | RuntimeException e) {
          failure = first + "'s shared mapping is not here (" + e.getMessage() + ": another host?)";
        }
      }
    }
    if (map != null && failure == null) {
      long line = HEADER + local * LINE;
      map.set(ValueLayout.JAVA_LONG, line + 8, ProcessHandle.current().pid());
      LONG.setRelease(map, line + 16, STATE_IN);
    }
    MemorySegment votes = Arena.ofAuto().allocate(Float.BYTES);
    votes.set(ValueLayout.JAVA_FLOAT, 0, failure == null ? 1 : 0);
    tcp.allReduceSum(votes, 1); // after this every rank that could has mapped its host's file
    boolean everyone = votes.get(ValueLayout.JAVA_FLOAT, 0) == tcp.worldSize();
    if (local == 0 && file != null) {
      try {
        Files.deleteIfExists(file); // the mappings stay; nothing is left behind
      } catch (IOException e) {
        settings.log().accept("rank " + tcp.rank() + ": could not remove " + file + ": " + e);
      }
    }
    if (!everyone) {
      if (failure != null) {
        settings.log().accept("rank " + tcp.rank() + ": " + failure);
      }
      arena.close();
      return Optional.empty();
    }
    ShmCollective shm = new ShmCollective(local, world, settings, arena, map);
    for (int q = 0; q < world; q++) {
      shm.pids[q] = map.get(ValueLayout.JAVA_LONG, HEADER + q * LINE + 8);
    }
    return Optional.of(shm);
  }

  /**
   * Creates the file (owner-only), writes every byte (so a full {@code /dev/shm} fails here with an
   * error rather than later with a fault) and the header.
   */
  private static Path create(Path directory, int world, byte[] tag) throws IOException {
    Path file = directory.resolve("cria-collective-" + HexFormat.of().formatHex(tag, 0, 8));
    Files.createFile(
        file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
      long size = size(world);
      for (long at = 0; at < size; at += zeros.capacity()) {
        zeros.clear().limit((int) Math.min(zeros.capacity(), size - at));
        while (zeros.hasRemaining()) {
          ch.write(zeros, at + zeros.position());
        }
      }
      ByteBuffer header = ByteBuffer.allocate(32).order(java.nio.ByteOrder.nativeOrder());
      header.putLong(MAGIC).putInt(world).putInt(0).put(tag).flip();
      ch.write(header, 0);
      ch.force(false);
    } catch (IOException e) {
      Files.deleteIfExists(file);
      throw new IOException(file + ": " + e.getMessage() + " (is /dev/shm large enough?)", e);
    }
    return file;
  }

  private static MemorySegment mapFile(Path file, long size, Arena arena) throws IOException {
    try (FileChannel ch =
        FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      if (ch.size() != size) {
        throw new IOException(file + " holds " + ch.size() + " bytes, expected " + size);
      }
      MemorySegment mapped = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
      // the same memory as a plain native segment, in the same arena: the Vector API's loads and
      // stores (HostSum's) then see the one segment class the engine's kernels pass them, and
      // the JIT's type profiles of those shared JDK methods stay monomorphic
      return MemorySegment.ofAddress(mapped.address()).reinterpret(size, arena, null);
    }
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
    return "shm (" + world + " ranks on this host)";
  }

  @Override
  public void barrier() {
    operation = "barrier";
    publishAndWait();
  }

  @Override
  public void barrier(Duration patience) {
    timeout.patiently(patience, this::barrier);
  }

  @Override
  public void broadcast(MemorySegment data, long bytes, int root) {
    operation = "broadcast";
    for (long at = 0; at < bytes; at += HALF) {
      long n = Math.min(HALF, bytes - at);
      MemorySegment half = half(root, nextHalf());
      if (rank == root) {
        MemorySegment.copy(data, at, half, 0, n);
      }
      publishAndWait();
      if (rank != root) {
        MemorySegment.copy(half, 0, data, at, n);
      }
    }
  }

  @Override
  public void allReduceSum(MemorySegment floats, long count) {
    reduceScatterSum(floats, count);
    allGather(floats, count);
    operation = "all-reduce";
  }

  @Override
  public void reduceScatterSum(MemorySegment floats, long count) {
    operation = "reduce-scatter";
    long piece = HALF / Float.BYTES / world / 16 * 16; // floats of one rank's shard per round
    long rounds = (ceilShard(count) + piece - 1) / piece;
    for (long k = 0; k < rounds; k++) {
      int h = nextHalf();
      MemorySegment mine = half(rank, h);
      for (int q = 0; q < world; q++) {
        long n = pieceLength(count, q, k, piece);
        if (q != rank && n > 0) {
          MemorySegment.copy(
              floats,
              (shardFrom(count, q) + k * piece) * Float.BYTES,
              mine,
              q * piece * Float.BYTES,
              n * Float.BYTES);
        }
      }
      publishAndWait();
      long n = pieceLength(count, rank, k, piece);
      if (n > 0) {
        long at = (shardFrom(count, rank) + k * piece) * Float.BYTES;
        for (int q = 0; q < world; q++) {
          if (q != rank) {
            HostSum.add(floats, at, half(q, h), rank * piece * Float.BYTES, n * Float.BYTES);
          }
        }
      }
    }
  }

  @Override
  public void allGather(MemorySegment floats, long count) {
    operation = "all-gather";
    long piece = HALF / Float.BYTES;
    long rounds = (ceilShard(count) + piece - 1) / piece;
    for (long k = 0; k < rounds; k++) {
      int h = nextHalf();
      long mine = pieceLength(count, rank, k, piece);
      if (mine > 0) {
        MemorySegment.copy(
            floats,
            (shardFrom(count, rank) + k * piece) * Float.BYTES,
            half(rank, h),
            0,
            mine * Float.BYTES);
      }
      publishAndWait();
      for (int q = 0; q < world; q++) {
        long n = pieceLength(count, q, k, piece);
        if (q != rank && n > 0) {
          MemorySegment.copy(
              half(q, h),
              0,
              floats,
              (shardFrom(count, q) + k * piece) * Float.BYTES,
              n * Float.BYTES);
        }
      }
    }
  }

  private long shardFrom(long count, int q) {
    return Collective.shardStart(count, world, q);
  }

  private long ceilShard(long count) {
    return (count + world - 1) / world;
  }

  /** Floats of piece {@code k} of shard {@code q}, pieces of {@code piece} floats. */
  private long pieceLength(long count, int q, long k, long piece) {
    long shard = shardFrom(count, q + 1) - shardFrom(count, q);
    return Math.max(0, Math.min(piece, shard - k * piece));
  }

  /** The half the next round writes: rounds alternate, counted by the phase. */
  private int nextHalf() {
    return (int) ((phase + 1) & 1);
  }

  private MemorySegment half(int q, int h) {
    return map.asSlice(dataStart + (q * 2L + h) * HALF, HALF);
  }

  /** Announces the next phase and waits until every rank has announced it. */
  private void publishAndWait() {
    if (closed) {
      throw new CollectiveException("rank " + rank + ": the group is closed");
    }
    failIfAborted();
    phase++;
    LONG.setRelease(map, HEADER + rank * LINE, phase);
    for (int q = 0; q < world; q++) {
      if (q != rank) {
        await(q);
      }
    }
  }

  private void await(int q) {
    long line = HEADER + q * LINE;
    int spins = 0;
    long started = 0;
    long lastCheck = 0;
    while ((long) LONG.getAcquire(map, line) < phase) {
      if (spins < 2000) {
        Thread.onSpinWait();
        spins++;
        continue;
      }
      if (spins < 2100) {
        Thread.yield();
        spins++;
        continue;
      }
      LockSupport.parkNanos(20_000);
      long now = System.nanoTime();
      if (started == 0) {
        started = now;
      }
      if (now - lastCheck > 100_000_000L) {
        lastCheck = now;
        checkPeer(q, now - started);
      }
    }
  }

  private void checkPeer(int q, long waitedNanos) {
    if ((long) LONG.getAcquire(map, HEADER + q * LINE) >= phase) {
      return;
    }
    failIfAborted();
    // a peer that finished and closed has published its last phase before it left
    if ((long) LONG.getAcquire(map, HEADER + q * LINE + 16) == STATE_LEFT
        && (long) LONG.getAcquire(map, HEADER + q * LINE) < phase) {
      throw new CollectiveException(
          "rank " + rank + ": rank " + q + " left the group during " + operation + " (it failed)");
    }
    long pid = pids[q];
    if (pid != ProcessHandle.current().pid()
        && !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
      throw new CollectiveException(
          "rank "
              + rank
              + ": rank "
              + q
              + " (pid "
              + pid
              + ") is gone during "
              + operation
              + " (did it stop or die?)");
    }
    if (waitedNanos > timeout.now().toNanos()) {
      throw new CollectiveException(
          "rank "
              + rank
              + ": nothing from rank "
              + q
              + " for "
              + timeout.now().toSeconds()
              + " s during "
              + operation
              + " (a peer is stuck)");
    }
  }

  private void failIfAborted() {
    String reason = aborted;
    if (reason != null) {
      throw new CollectiveException(reason);
    }
  }

  /** The waiting loop looks every 100 ms once it parks, and fails with {@code reason}. */
  /** A mapping of each new group's own, its lowest rank creating it. */
  @Override
  public Collective split(int[] members) {
    Collective.checkMembers(this, members);
    if (members.length == 1) {
      return Collective.single(); // the groups have the same size: nobody exchanges anything
    }
    return attach(this, members, settings)
        .orElseThrow(() ->
            new CollectiveException(
                "rank "
                    + rank
                    + ": cannot give its group "
                    + java.util.Arrays.toString(members)
                    + " a shared mapping of its own (see the log for why)"));
  }

  @Override
  public void abort(String reason) {
    aborted = reason;
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    LONG.setRelease(map, HEADER + rank * LINE + 16, STATE_LEFT);
    arena.close();
  }
}
