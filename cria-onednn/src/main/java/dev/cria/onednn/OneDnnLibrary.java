package dev.cria.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * The part of oneDNN's C API ({@code oneapi/dnnl/dnnl.h}) that a matrix product needs, as FFM
 * downcalls, and OpenMP's {@code omp_set_num_threads}. Loaded once per process ({@link #get()}):
 * before OpenMP's runtime loads, {@code OMP_WAIT_POLICY=PASSIVE} is set unless the environment says
 * otherwise, so that OpenMP's threads sleep between products instead of spinning against cria's own
 * pool on the same cores.
 */
final class OneDnnLibrary {
  // enum values of dnnl_common_types.h and dnnl_types.h (oneDNN 3.x)
  static final int CPU_ENGINE = 1; // dnnl_cpu
  static final int BF16 = 2; // dnnl_bf16
  static final int F32 = 3; // dnnl_f32
  static final int UNDEF = 0; // dnnl_data_type_undef
  static final int STREAM_IN_ORDER = 1; // dnnl_stream_default_flags
  static final int QUERY_IMPL_INFO_STR = 8; // dnnl_query_impl_info_str
  static final int ARG_SRC = 1;
  static final int ARG_DST = 17;
  static final int ARG_WEIGHTS = 33;

  private static final ValueLayout A = ValueLayout.ADDRESS;
  private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;
  private static final ValueLayout.OfLong L = ValueLayout.JAVA_LONG;
  private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

  private static OneDnnLibrary instance;
  private static RuntimeException failure;

  final String version;
  final MethodHandle engineCreate;
  final MethodHandle engineDestroy;
  final MethodHandle streamDestroy;
  final MethodHandle streamCreate;
  final MethodHandle streamWait;
  final MethodHandle memoryDescCreateWithStrides;
  final MethodHandle memoryDescDestroy;
  final MethodHandle attrCreate;
  final MethodHandle attrDestroy;
  final MethodHandle attrSetPostOps;
  final MethodHandle postOpsCreate;
  final MethodHandle postOpsDestroy;
  final MethodHandle postOpsAppendSum;
  final MethodHandle matmulDescCreate;
  final MethodHandle primitiveDescQuery;
  final MethodHandle primitiveDescDestroy;
  final MethodHandle primitiveCreate;
  final MethodHandle primitiveDestroy;
  final MethodHandle primitiveExecute;
  final MethodHandle memoryCreate;
  final MethodHandle memorySetDataHandle;
  final MethodHandle memoryDestroy;
  final MethodHandle ompSetNumThreads;

  private OneDnnLibrary(Path dir) {
    Linker linker = Linker.nativeLinker();
    if (System.getenv("OMP_WAIT_POLICY") == null) {
      MethodHandle setenv =
          linker.downcallHandle(
              linker.defaultLookup().find("setenv").orElseThrow(),
              FunctionDescriptor.of(I, A, A, I));
      try (Arena arena = Arena.ofConfined()) {
        int rc =
            (int)
                setenv.invokeExact(
                    arena.allocateFrom("OMP_WAIT_POLICY"), arena.allocateFrom("PASSIVE"), 0);
        if (rc != 0) {
          throw new IllegalStateException("setenv(OMP_WAIT_POLICY) failed");
        }
      } catch (Throwable t) {
        throw rethrow(t);
      }
    }
    SymbolLookup gomp = SymbolLookup.libraryLookup(dir.resolve("libgomp.so.1"), Arena.global());
    SymbolLookup dnnl = SymbolLookup.libraryLookup(dir.resolve("libdnnl.so.3"), Arena.global());
    ompSetNumThreads = handle(linker, gomp, "omp_set_num_threads", FunctionDescriptor.ofVoid(I));
    MethodHandle versionFn = handle(linker, dnnl, "dnnl_version", FunctionDescriptor.of(A));
    engineCreate = status(linker, dnnl, "dnnl_engine_create", A, I, L);
    streamCreate = status(linker, dnnl, "dnnl_stream_create", A, A, I);
    streamWait = status(linker, dnnl, "dnnl_stream_wait", A);
    engineDestroy = status(linker, dnnl, "dnnl_engine_destroy", A);
    streamDestroy = status(linker, dnnl, "dnnl_stream_destroy", A);
    memoryDescCreateWithStrides =
        status(linker, dnnl, "dnnl_memory_desc_create_with_strides", A, I, A, I, A);
    memoryDescDestroy = status(linker, dnnl, "dnnl_memory_desc_destroy", A);
    attrCreate = status(linker, dnnl, "dnnl_primitive_attr_create", A);
    attrDestroy = status(linker, dnnl, "dnnl_primitive_attr_destroy", A);
    attrSetPostOps = status(linker, dnnl, "dnnl_primitive_attr_set_post_ops", A, A);
    postOpsCreate = status(linker, dnnl, "dnnl_post_ops_create", A);
    postOpsDestroy = status(linker, dnnl, "dnnl_post_ops_destroy", A);
    postOpsAppendSum = status(linker, dnnl, "dnnl_post_ops_append_sum", A, F, I, I);
    matmulDescCreate =
        status(linker, dnnl, "dnnl_matmul_primitive_desc_create", A, A, A, A, A, A, A);
    primitiveDescQuery = status(linker, dnnl, "dnnl_primitive_desc_query", A, I, I, A);
    primitiveDescDestroy = status(linker, dnnl, "dnnl_primitive_desc_destroy", A);
    primitiveCreate = status(linker, dnnl, "dnnl_primitive_create", A, A);
    primitiveDestroy = status(linker, dnnl, "dnnl_primitive_destroy", A);
    primitiveExecute = status(linker, dnnl, "dnnl_primitive_execute", A, A, I, A);
    memoryCreate = status(linker, dnnl, "dnnl_memory_create", A, A, A, A);
    memorySetDataHandle = status(linker, dnnl, "dnnl_memory_set_data_handle", A, A);
    memoryDestroy = status(linker, dnnl, "dnnl_memory_destroy", A);
    try {
      MemorySegment v = ((MemorySegment) versionFn.invokeExact()).reinterpret(12);
      version = v.get(I, 0) + "." + v.get(I, 4) + "." + v.get(I, 8);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * The library, loaded on the first call.
   *
   * @throws IllegalStateException why it cannot load (the same reason on every later call)
   */
  static synchronized OneDnnLibrary get() {
    if (instance == null && failure == null) {
      try {
        instance = new OneDnnLibrary(NativeLibraries.unpacked());
      } catch (RuntimeException e) {
        failure = e;
      } catch (LinkageError e) {
        failure = new IllegalStateException("oneDNN did not load: " + e.getMessage(), e);
      }
    }
    if (failure != null) {
      throw failure;
    }
    return instance;
  }

  private static MethodHandle handle(
      Linker linker, SymbolLookup lookup, String name, FunctionDescriptor descriptor) {
    return linker.downcallHandle(
        lookup
            .find(name)
            .orElseThrow(() -> new IllegalStateException(name + " is missing from the library")),
        descriptor);
  }

  /** A function returning {@code dnnl_status_t} (an int). */
  private static MethodHandle status(
      Linker linker, SymbolLookup lookup, String name, java.lang.foreign.MemoryLayout... args) {
    return handle(linker, lookup, name, FunctionDescriptor.of(I, args));
  }

  /** Throws, naming {@code call}, when {@code status} is not {@code dnnl_success}. */
  static void check(int status, String call) {
    if (status != 0) {
      throw new IllegalStateException(
          "oneDNN " + call + " failed: " + statusName(status) + " (status " + status + ")");
    }
  }

  static String statusName(int status) {
    return switch (status) {
      case 1 -> "out of memory";
      case 2 -> "invalid arguments";
      case 3 -> "unimplemented";
      case 4 -> "last implementation reached";
      case 5 -> "runtime error";
      case 6 -> "not required";
      default -> "unknown status";
    };
  }

  static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) {
      return r;
    }
    if (t instanceof Error e) {
      throw e;
    }
    return new IllegalStateException(t);
  }
}
