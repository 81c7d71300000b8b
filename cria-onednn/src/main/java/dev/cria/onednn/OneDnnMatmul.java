package dev.cria.onednn;

import static dev.cria.onednn.OneDnnLibrary.check;
import static dev.cria.onednn.OneDnnLibrary.rethrow;

import dev.cria.engine.backend.Bf16Matmul;
import dev.cria.engine.backend.GemmShape;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * oneDNN's matmul primitive on bf16 operands into an fp32 result ({@code brg_matmul} with AMX or
 * AVX512_BF16 where the CPU has them). One primitive per (shape, accumulate) is created on first
 * use and kept; each call points its three memory objects at the caller's buffers and runs it on an
 * in-order CPU stream. Accumulation is oneDNN's sum post-op ({@code C = 1 * C + A B}).
 *
 * <p>Opening checks that oneDNN has a real bf16 kernel here: where it would fall back to its
 * reference loops (a CPU without AVX-512), {@link #open} refuses, so that cria's own Java product
 * runs instead.
 */
public final class OneDnnMatmul implements Bf16Matmul {
  private static final GemmShape PROBE = new GemmShape(false, true, 64, 64, 64);

  private final OneDnnLibrary lib;
  private final int threads;
  private final Arena arena = Arena.ofShared();
  private final MemorySegment engine;
  private final MemorySegment stream;
  private final Map<Key, Primitive> primitives = new HashMap<>();
  private final String probeImplementation;
  private boolean closed;

  private record Key(GemmShape shape, boolean accumulate) {}

  /** One matmul primitive and its memory objects, whose data handles change per call. */
  private record Primitive(
      MemorySegment descriptor,
      MemorySegment primitive,
      MemorySegment a,
      MemorySegment b,
      MemorySegment c,
      MemorySegment args,
      String implementation) {}

  private OneDnnMatmul(OneDnnLibrary lib, int threads) {
    this.lib = lib;
    this.threads = threads;
    try {
      MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
      check((int) lib.engineCreate.invokeExact(out, OneDnnLibrary.CPU_ENGINE, 0L), "engine_create");
      engine = out.get(ValueLayout.ADDRESS, 0);
      check(
          (int) lib.streamCreate.invokeExact(out, engine, OneDnnLibrary.STREAM_IN_ORDER),
          "stream_create");
      stream = out.get(ValueLayout.ADDRESS, 0);
    } catch (Throwable t) {
      arena.close();
      throw rethrow(t);
    }
    try {
      probeImplementation = primitive(new Key(PROBE, false)).implementation();
    } catch (RuntimeException e) {
      close(); // the engine and stream made above
      throw e;
    }
  }

  /**
   * oneDNN on {@code threads} OpenMP threads.
   *
   * @throws IllegalStateException when the library does not load or has no bf16 kernel for this CPU
   */
  public static OneDnnMatmul open(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be at least 1, got " + threads);
    }
    OneDnnMatmul m;
    try {
      m = new OneDnnMatmul(OneDnnLibrary.get(), threads);
    } catch (IllegalStateException e) {
      if (e.getMessage() != null && e.getMessage().contains("unimplemented")) {
        throw new IllegalStateException(
            "oneDNN has no bf16 matmul for this CPU (it needs AVX512 or AMX; "
                + e.getMessage()
                + ")",
            e);
      }
      throw e;
    }
    if (m.probeImplementation.startsWith("ref")) {
      m.close();
      throw new IllegalStateException(
          "oneDNN has only its reference bf16 matmul on this CPU (" + m.probeImplementation + ")");
    }
    return m;
  }

  /** oneDNN's version, {@code 3.11.0}. */
  public String version() {
    return lib.version;
  }

  @Override
  public String description() {
    return "oneDNN "
        + lib.version
        + " ("
        + probeImplementation
        + ", OpenMP, "
        + threads
        + (threads == 1 ? " thread)" : " threads)");
  }

  /**
   * oneDNN's name for the kernel that runs {@code shape} ({@code brg_matmul:avx512_core_amx}, say).
   */
  public synchronized String implementation(GemmShape shape) {
    return primitive(new Key(shape, false)).implementation();
  }

  @Override
  public synchronized void multiply(
      GemmShape shape,
      MemorySegment a,
      long aOff,
      MemorySegment b,
      long bOff,
      MemorySegment c,
      long cOff,
      boolean accumulate) {
    long m = shape.m();
    long n = shape.n();
    long k = shape.k();
    MemorySegment aAt = operand(a, aOff, m * k, 2, "A");
    MemorySegment bAt = operand(b, bOff, k * n, 2, "B");
    MemorySegment cAt = operand(c, cOff, m * n, 4, "C");
    Primitive p = primitive(new Key(shape, accumulate));
    try {
      lib.ompSetNumThreads.invokeExact(threads);
      check((int) lib.memorySetDataHandle.invokeExact(p.a(), aAt), "memory_set_data_handle");
      check((int) lib.memorySetDataHandle.invokeExact(p.b(), bAt), "memory_set_data_handle");
      check((int) lib.memorySetDataHandle.invokeExact(p.c(), cAt), "memory_set_data_handle");
      check(
          (int) lib.primitiveExecute.invokeExact(p.primitive(), stream, 3, p.args()),
          "primitive_execute");
      check((int) lib.streamWait.invokeExact(stream), "stream_wait");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** The native address of {@code count} elements of {@code bytes} each at {@code offset}. */
  private static MemorySegment operand(
      MemorySegment s, long offset, long count, int bytes, String which) {
    if (!s.isNative()) {
      throw new IllegalArgumentException("oneDNN needs native memory for " + which);
    }
    if (offset < 0 || (offset + count) * bytes > s.byteSize()) {
      throw new IndexOutOfBoundsException(
          which
              + ": "
              + count
              + " elements at "
              + offset
              + " do not fit in a buffer of "
              + s.byteSize()
              + " bytes");
    }
    return MemorySegment.ofAddress(s.address() + offset * bytes);
  }

  private Primitive primitive(Key key) {
    if (closed) {
      throw new IllegalStateException("this oneDNN matmul is closed");
    }
    Primitive cached = primitives.get(key);
    if (cached != null) {
      return cached;
    }
    GemmShape s = key.shape();
    long m = s.m();
    long n = s.n();
    long k = s.k();
    try (Arena temp = Arena.ofConfined()) {
      MemorySegment aDesc =
          descriptor(temp, m, k, OneDnnLibrary.BF16, s.transA() ? 1 : k, s.transA() ? m : 1);
      MemorySegment bDesc =
          descriptor(temp, k, n, OneDnnLibrary.BF16, s.transB() ? 1 : n, s.transB() ? k : 1);
      MemorySegment cDesc = descriptor(temp, m, n, OneDnnLibrary.F32, n, 1);
      MemorySegment out = temp.allocate(ValueLayout.ADDRESS);
      MemorySegment attr = MemorySegment.NULL;
      MemorySegment postOps = MemorySegment.NULL;
      if (key.accumulate()) {
        check((int) lib.attrCreate.invokeExact(out), "primitive_attr_create");
        attr = out.get(ValueLayout.ADDRESS, 0);
        check((int) lib.postOpsCreate.invokeExact(out), "post_ops_create");
        postOps = out.get(ValueLayout.ADDRESS, 0);
        check(
            (int) lib.postOpsAppendSum.invokeExact(postOps, 1f, 0, OneDnnLibrary.UNDEF),
            "post_ops_append_sum");
        check((int) lib.attrSetPostOps.invokeExact(attr, postOps), "primitive_attr_set_post_ops");
      }
      int created =
          (int)
              lib.matmulDescCreate.invokeExact(
                  out, engine, aDesc, bDesc, MemorySegment.NULL, cDesc, attr);
      if (key.accumulate()) {
        check((int) lib.postOpsDestroy.invokeExact(postOps), "post_ops_destroy");
        check((int) lib.attrDestroy.invokeExact(attr), "primitive_attr_destroy");
      }
      check(created, "matmul_primitive_desc_create for " + s);
      MemorySegment pd = out.get(ValueLayout.ADDRESS, 0);
      check(
          (int) lib.primitiveDescQuery.invokeExact(pd, OneDnnLibrary.QUERY_IMPL_INFO_STR, 0, out),
          "primitive_desc_query");
      String implementation = out.get(ValueLayout.ADDRESS, 0).reinterpret(256).getString(0);
      check((int) lib.primitiveCreate.invokeExact(out, pd), "primitive_create");
      MemorySegment primitive = out.get(ValueLayout.ADDRESS, 0);
      MemorySegment aMem = memory(out, aDesc);
      MemorySegment bMem = memory(out, bDesc);
      MemorySegment cMem = memory(out, cDesc);
      for (MemorySegment d : new MemorySegment[] {aDesc, bDesc, cDesc}) {
        check((int) lib.memoryDescDestroy.invokeExact(d), "memory_desc_destroy");
      }
      // dnnl_exec_arg_t: { int arg; dnnl_memory_t memory; }, 16 bytes
      MemorySegment args = arena.allocate(16 * 3, 8);
      int[] kinds = {OneDnnLibrary.ARG_SRC, OneDnnLibrary.ARG_WEIGHTS, OneDnnLibrary.ARG_DST};
      MemorySegment[] mems = {aMem, bMem, cMem};
      for (int i = 0; i < 3; i++) {
        args.set(ValueLayout.JAVA_INT, 16L * i, kinds[i]);
        args.set(ValueLayout.ADDRESS, 16L * i + 8, mems[i]);
      }
      Primitive p = new Primitive(pd, primitive, aMem, bMem, cMem, args, implementation);
      primitives.put(key, p);
      return p;
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** A 2-D memory descriptor of {@code rows x cols} with the given strides. */
  private MemorySegment descriptor(
      Arena temp, long rows, long cols, int type, long rowStride, long colStride) throws Throwable {
    MemorySegment dims = temp.allocateFrom(ValueLayout.JAVA_LONG, rows, cols);
    MemorySegment strides = temp.allocateFrom(ValueLayout.JAVA_LONG, rowStride, colStride);
    MemorySegment out = temp.allocate(ValueLayout.ADDRESS);
    check(
        (int) lib.memoryDescCreateWithStrides.invokeExact(out, 2, dims, type, strides),
        "memory_desc_create_with_strides");
    return out.get(ValueLayout.ADDRESS, 0);
  }

  /** A memory object for {@code desc} with no data yet (each call sets it). */
  private MemorySegment memory(MemorySegment out, MemorySegment desc) throws Throwable {
    check(
        (int) lib.memoryCreate.invokeExact(out, desc, engine, MemorySegment.NULL), "memory_create");
    return out.get(ValueLayout.ADDRESS, 0);
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      for (Primitive p : primitives.values()) {
        for (MemorySegment mem : new MemorySegment[] {p.a(), p.b(), p.c()}) {
          check((int) lib.memoryDestroy.invokeExact(mem), "memory_destroy");
        }
        check((int) lib.primitiveDestroy.invokeExact(p.primitive()), "primitive_destroy");
        check((int) lib.primitiveDescDestroy.invokeExact(p.descriptor()), "primitive_desc_destroy");
      }
      primitives.clear();
      check((int) lib.streamDestroy.invokeExact(stream), "stream_destroy");
      check((int) lib.engineDestroy.invokeExact(engine), "engine_destroy");
    } catch (Throwable t) {
      throw rethrow(t);
    } finally {
      arena.close();
    }
  }
}
