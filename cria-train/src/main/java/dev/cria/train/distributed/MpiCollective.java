package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Map;
import java.util.Optional;

/**
 * Open MPI's own collectives, called through the FFM API on its C library ({@code libmpi.so.40},
 * Debian's {@code libopenmpi3}), for a job that {@code mpirun} started: on a cluster they use the
 * fabric Open MPI was built for (EFA through libfabric, InfiniBand through UCX), which a TCP ring
 * cannot.
 *
 * <p>Reduce-scatter is {@code MPI_Reduce_scatter} in place (Open MPI leaves the rank's block at the
 * start of the buffer; it is moved to the rank's shard); all-gather is {@code MPI_Allgatherv} in
 * place over the same shards; all-reduce is the two, so that every element is summed once, by its
 * owner, and is the same on every rank bit for bit (an {@code MPI_Allreduce} by recursive doubling
 * need not be). A buffer must fit MPI's {@code int} counts (2^31 - 1 floats: every bucket does).
 *
 * <p>Loading: libmpi is opened with {@code RTLD_GLOBAL}, as Open MPI's plugins need, and Open MPI's
 * own handlers for SIGSEGV, SIGBUS, SIGFPE and SIGILL are switched off before {@code MPI_Init}
 * ({@code OMPI_MCA_opal_signal}): the JVM uses those signals itself. Open MPI has no operation
 * timeout: a rank that dies ends the job through mpirun instead.
 */
final class MpiCollective implements Collective {
  private static final String[] LIBRARIES = {"libmpi.so.40", "libmpi.so"};
  private static final int RTLD_NOW = 2;
  private static final int RTLD_GLOBAL = 0x100;
  private static final int MPI_THREAD_SERIALIZED = 2;
  private static final MemorySegment IN_PLACE = MemorySegment.ofAddress(1);
  private static final long BROADCAST_CHUNK = 1L << 30;

  private static Library library; // loaded once per process
  private static boolean initialized;

  private final Library mpi;
  private final MemorySegment comm; // Open MPI's communicator handle: the world's, or a split's
  private final boolean ofWorld; // the world's group, whose close finalizes MPI
  private final int rank;
  private final int world;
  private final Arena arena = Arena.ofShared();
  private final MemorySegment counts;
  private final MemorySegment displacements;
  private final String version;
  private boolean closed;

  /** The C functions and handles of Open MPI that cria calls. */
  private record Library(
      MethodHandle initialized,
      MethodHandle initThread,
      MethodHandle finalized,
      MethodHandle finalizeMpi,
      MethodHandle commRank,
      MethodHandle commSize,
      MethodHandle barrier,
      MethodHandle bcast,
      MethodHandle reduceScatter,
      MethodHandle allgatherv,
      MethodHandle getLibraryVersion,
      MethodHandle abort,
      MethodHandle commSplit,
      MethodHandle commFree,
      MemorySegment commWorld,
      MemorySegment floatType,
      MemorySegment byteType,
      MemorySegment sum) {}

  private MpiCollective(Library mpi, MemorySegment comm, boolean ofWorld, int rank, int world) {
    this.mpi = mpi;
    this.comm = comm;
    this.ofWorld = ofWorld;
    this.rank = rank;
    this.world = world;
    this.counts = arena.allocate(ValueLayout.JAVA_INT, world);
    this.displacements = arena.allocate(ValueLayout.JAVA_INT, world);
    this.version = version(mpi);
  }

  /** Whether {@code env} says mpirun (Open MPI's) started this process. */
  static boolean startedByMpirun(Map<String, String> env) {
    return env.containsKey("OMPI_COMM_WORLD_SIZE");
  }

  /** Loads libmpi, or says why not (a message that names the library and the Debian package). */
  static synchronized Optional<String> unavailable() {
    try {
      load();
      return Optional.empty();
    } catch (CollectiveException e) {
      return Optional.of(e.getMessage());
    }
  }

  /**
   * Initializes MPI (once per process) and returns the world communicator's group, checked against
   * the rank and size that {@code env} expects.
   */
  static synchronized Collective init(RankEnvironment env) {
    Library mpi = load();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment flag = a.allocate(ValueLayout.JAVA_INT);
      if (!initialized) {
        check((int) mpi.initialized().invokeExact(flag), "MPI_Initialized");
        if (flag.get(ValueLayout.JAVA_INT, 0) == 0) {
          MemorySegment provided = a.allocate(ValueLayout.JAVA_INT);
          check(
              (int)
                  mpi.initThread()
                      .invokeExact(
                          MemorySegment.NULL, MemorySegment.NULL, MPI_THREAD_SERIALIZED, provided),
              "MPI_Init_thread");
          if (provided.get(ValueLayout.JAVA_INT, 0) < MPI_THREAD_SERIALIZED) {
            throw new CollectiveException(
                "Open MPI gives thread level "
                    + provided.get(ValueLayout.JAVA_INT, 0)
                    + "; cria needs MPI_THREAD_SERIALIZED (the gradients are reduced on their own"
                    + " thread)");
          }
        }
        initialized = true;
      }
      MemorySegment value = a.allocate(ValueLayout.JAVA_INT);
      check((int) mpi.commRank().invokeExact(mpi.commWorld(), value), "MPI_Comm_rank");
      int rank = value.get(ValueLayout.JAVA_INT, 0);
      check((int) mpi.commSize().invokeExact(mpi.commWorld(), value), "MPI_Comm_size");
      int world = value.get(ValueLayout.JAVA_INT, 0);
      if (rank != env.rank() || world != env.worldSize()) {
        throw new CollectiveException(
            "Open MPI says rank "
                + rank
                + " of "
                + world
                + ", the environment rank "
                + env.rank()
                + " of "
                + env.worldSize());
      }
      return new MpiCollective(mpi, mpi.commWorld(), true, rank, world);
    } catch (CollectiveException e) {
      throw e;
    } catch (Throwable t) {
      throw new CollectiveException("calling Open MPI failed: " + t, t);
    }
  }

  /** Open MPI's version line ({@code MPI_Get_library_version}), for the log. */
  private static String version(Library mpi) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment text = a.allocate(8192);
      MemorySegment length = a.allocate(ValueLayout.JAVA_INT);
      check((int) mpi.getLibraryVersion().invokeExact(text, length), "MPI_Get_library_version");
      String v = text.getString(0).strip();
      int comma = v.indexOf(',');
      return comma > 0 ? v.substring(0, comma) : v;
    } catch (CollectiveException e) {
      throw e;
    } catch (Throwable t) {
      return "Open MPI";
    }
  }

  private static Library load() {
    if (library != null) {
      return library;
    }
    String loaded = null;
    StringBuilder why = new StringBuilder();
    try (Arena a = Arena.ofConfined()) {
      MethodHandle dlopen =
          Libc.function(
              "dlopen",
              FunctionDescriptor.of(
                  ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
      MethodHandle dlerror = Libc.function("dlerror", FunctionDescriptor.of(ValueLayout.ADDRESS));
      MethodHandle setenv =
          Libc.function(
              "setenv",
              FunctionDescriptor.of(
                  ValueLayout.JAVA_INT,
                  ValueLayout.ADDRESS,
                  ValueLayout.ADDRESS,
                  ValueLayout.JAVA_INT));
      for (String name : LIBRARIES) {
        MemorySegment handle =
            (MemorySegment) dlopen.invokeExact(a.allocateFrom(name), RTLD_NOW | RTLD_GLOBAL);
        if (!handle.equals(MemorySegment.NULL)) {
          loaded = name;
          break;
        }
        MemorySegment error = (MemorySegment) dlerror.invokeExact();
        why.append(error.equals(MemorySegment.NULL) ? name : error.reinterpret(4096).getString(0))
            .append("; ");
      }
      if (loaded == null) {
        throw new CollectiveException(
            "Open MPI's library is not here ("
                + why.toString().replaceAll("; $", "")
                + "): install it (Debian: libopenmpi3) or use --collective tcp");
      }
      // the JVM handles SIGSEGV, SIGBUS, SIGFPE and SIGILL itself; Open MPI must not take them
      int unused =
          (int) setenv.invokeExact(a.allocateFrom("OMPI_MCA_opal_signal"), a.allocateFrom(""), 1);
    } catch (CollectiveException e) {
      throw e;
    } catch (Throwable t) {
      throw new CollectiveException("loading Open MPI's library failed: " + t, t);
    }
    Linker linker = Linker.nativeLinker();
    SymbolLookup lib = SymbolLookup.libraryLookup(loaded, Arena.global());
    ValueLayout.OfInt i = ValueLayout.JAVA_INT;
    ValueLayout p = ValueLayout.ADDRESS;
    library =
        new Library(
            handle(linker, lib, "MPI_Initialized", FunctionDescriptor.of(i, p)),
            handle(linker, lib, "MPI_Init_thread", FunctionDescriptor.of(i, p, p, i, p)),
            handle(linker, lib, "MPI_Finalized", FunctionDescriptor.of(i, p)),
            handle(linker, lib, "MPI_Finalize", FunctionDescriptor.of(i)),
            handle(linker, lib, "MPI_Comm_rank", FunctionDescriptor.of(i, p, p)),
            handle(linker, lib, "MPI_Comm_size", FunctionDescriptor.of(i, p, p)),
            handle(linker, lib, "MPI_Barrier", FunctionDescriptor.of(i, p)),
            handle(linker, lib, "MPI_Bcast", FunctionDescriptor.of(i, p, i, p, i, p)),
            handle(linker, lib, "MPI_Reduce_scatter", FunctionDescriptor.of(i, p, p, p, p, p, p)),
            handle(linker, lib, "MPI_Allgatherv", FunctionDescriptor.of(i, p, i, p, p, p, p, p, p)),
            handle(linker, lib, "MPI_Get_library_version", FunctionDescriptor.of(i, p, p)),
            handle(linker, lib, "MPI_Abort", FunctionDescriptor.of(i, p, i)),
            handle(linker, lib, "MPI_Comm_split", FunctionDescriptor.of(i, p, i, i, p)),
            handle(linker, lib, "MPI_Comm_free", FunctionDescriptor.of(i, p)),
            symbol(lib, "ompi_mpi_comm_world"),
            symbol(lib, "ompi_mpi_float"),
            symbol(lib, "ompi_mpi_byte"),
            symbol(lib, "ompi_mpi_op_sum"));
    return library;
  }

  private static MethodHandle handle(
      Linker linker, SymbolLookup lib, String name, FunctionDescriptor descriptor) {
    return linker.downcallHandle(symbol(lib, name), descriptor);
  }

  private static MemorySegment symbol(SymbolLookup lib, String name) {
    return lib.find(name)
        .orElseThrow(() ->
            new CollectiveException(
                "Open MPI's library has no " + name + " (cria needs Open MPI 4 or later)"));
  }

  private static void check(int code, String call) {
    if (code != 0) {
      throw new CollectiveException(call + " failed with MPI error " + code);
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
    return "mpi (" + version + ", " + world + " ranks)";
  }

  /** One call into libmpi, returning MPI's error code. */
  private interface Call {
    int invoke() throws Throwable;
  }

  /** Makes {@code call}; a non-zero code or a failure of the call itself names {@code name}. */
  private static void call(String name, Call call) {
    int code;
    try {
      code = call.invoke();
    } catch (Throwable t) {
      throw new CollectiveException(name + ": " + t, t);
    }
    check(code, name);
  }

  @Override
  public void barrier() {
    call("MPI_Barrier", () -> (int) mpi.barrier().invokeExact(comm));
  }

  @Override
  public void broadcast(MemorySegment data, long bytes, int root) {
    for (long at = 0; at < bytes; at += BROADCAST_CHUNK) {
      int n = (int) Math.min(BROADCAST_CHUNK, bytes - at);
      MemorySegment chunk = data.asSlice(at, n);
      call("MPI_Bcast", () -> (int) mpi.bcast().invokeExact(chunk, n, mpi.byteType(), root, comm));
    }
  }

  @Override
  public void allReduceSum(MemorySegment floats, long count) {
    reduceScatterSum(floats, count);
    allGather(floats, count);
  }

  @Override
  public void reduceScatterSum(MemorySegment floats, long count) {
    if (count == 0) {
      return;
    }
    shards(count);
    call(
        "MPI_Reduce_scatter",
        () ->
            (int)
                mpi.reduceScatter()
                    .invokeExact(IN_PLACE, floats, counts, mpi.floatType(), mpi.sum(), comm));
    // in place, Open MPI leaves this rank's block at the start of the buffer
    long from = Collective.shardStart(count, world, rank);
    long n = Collective.shardStart(count, world, rank + 1) - from;
    if (from > 0 && n > 0) {
      MemorySegment.copy(floats, 0, floats, from * Float.BYTES, n * Float.BYTES);
    }
  }

  @Override
  public void allGather(MemorySegment floats, long count) {
    if (count == 0) {
      return;
    }
    shards(count);
    call(
        "MPI_Allgatherv",
        () ->
            (int)
                mpi.allgatherv()
                    .invokeExact(
                        IN_PLACE,
                        0,
                        mpi.floatType(),
                        floats,
                        counts,
                        displacements,
                        mpi.floatType(),
                        comm));
  }

  /** Each rank's shard of {@code count} floats as MPI counts and displacements. */
  private void shards(long count) {
    if (count > Integer.MAX_VALUE) {
      throw new CollectiveException(
          "a collective of "
              + count
              + " floats is beyond Open MPI's int counts; cria's buckets stay below 2^31");
    }
    for (int q = 0; q < world; q++) {
      long from = Collective.shardStart(count, world, q);
      long to = Collective.shardStart(count, world, q + 1);
      counts.setAtIndex(ValueLayout.JAVA_INT, q, (int) (to - from));
      displacements.setAtIndex(ValueLayout.JAVA_INT, q, (int) from);
    }
  }

  /**
   * {@code MPI_Comm_split} of this group's communicator, the color being the group's first member:
   * Open MPI's collectives, and its own choice of transport, within each group.
   */
  @Override
  public Collective split(int[] members) {
    int me = Collective.checkMembers(this, members);
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      call("MPI_Comm_split", () -> (int) mpi.commSplit().invokeExact(comm, members[0], me, out));
      MemorySegment split = out.get(ValueLayout.ADDRESS, 0);
      MemorySegment value = a.allocate(ValueLayout.JAVA_INT);
      call("MPI_Comm_rank", () -> (int) mpi.commRank().invokeExact(split, value));
      int r = value.get(ValueLayout.JAVA_INT, 0);
      call("MPI_Comm_size", () -> (int) mpi.commSize().invokeExact(split, value));
      int size = value.get(ValueLayout.JAVA_INT, 0);
      if (r != me || size != members.length) {
        throw new CollectiveException(
            "MPI_Comm_split made rank "
                + r
                + " of "
                + size
                + ", not "
                + me
                + " of "
                + members.length);
      }
      return new MpiCollective(mpi, split, false, r, size);
    }
  }

  /**
   * Ends the job: a call in progress cannot be interrupted, and a rank that finalizes while its
   * peers wait in a collective would wait with them, so this rank says {@code reason} on its
   * standard error and calls {@code MPI_Abort}, after which mpirun ends every rank. Does not
   * return.
   */
  @Override
  public void abort(String reason) {
    System.err.println("cria: " + reason + "; aborting the MPI job");
    System.err.flush();
    try {
      int ignored = (int) mpi.abort().invokeExact(mpi.commWorld(), 1);
    } catch (Throwable t) {
      // MPI_Abort does not return; if it failed, the process ends here all the same
    }
    Runtime.getRuntime().halt(1);
  }

  /**
   * Frees a split's communicator ({@code MPI_Comm_free}); finalizes MPI, once per process, when the
   * job's group closes.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    arena.close();
    if (!ofWorld) {
      try (Arena a = Arena.ofConfined()) {
        MemorySegment handle = a.allocate(ValueLayout.ADDRESS);
        handle.set(ValueLayout.ADDRESS, 0, comm);
        int ignored = (int) mpi.commFree().invokeExact(handle);
      } catch (Throwable t) {
        // closing: the job is over either way
      }
      return;
    }
    synchronized (MpiCollective.class) {
      try (Arena a = Arena.ofConfined()) {
        MemorySegment flag = a.allocate(ValueLayout.JAVA_INT);
        check((int) mpi.finalized().invokeExact(flag), "MPI_Finalized");
        if (flag.get(ValueLayout.JAVA_INT, 0) == 0) {
          check((int) mpi.finalizeMpi().invokeExact(), "MPI_Finalize");
        }
      } catch (Throwable t) {
        // closing: the job is over either way
      }
    }
  }
}
