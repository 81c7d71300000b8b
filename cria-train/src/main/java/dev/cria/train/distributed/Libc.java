package dev.cria.train.distributed;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;

/** Functions of the C library, called through the FFM API. */
final class Libc {
  private Libc() {}

  /**
   * A handle on the C library's function {@code name} with the signature {@code descriptor}.
   *
   * @throws java.util.NoSuchElementException when the C library has no such function
   */
  static MethodHandle function(
      String name, FunctionDescriptor descriptor, Linker.Option... options) {
    Linker linker = Linker.nativeLinker();
    return linker.downcallHandle(
        linker.defaultLookup().find(name).orElseThrow(), descriptor, options);
  }
}
