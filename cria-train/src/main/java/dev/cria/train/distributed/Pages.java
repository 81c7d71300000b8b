package dev.cria.train.distributed;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Handing the pages of a buffer back to the operating system while keeping the buffer, as ZeRO-2
 * does with the gradients a rank does not own: {@code madvise(MADV_DONTNEED)} on the whole pages of
 * a range (Linux then frees them, and they read as zeros when next touched), zeros written to the
 * partial pages at its ends. Where the call is missing or refused, the range is only zeroed, so the
 * contract (the range reads as zeros) always holds; {@link #releases()} says which.
 *
 * <p>Only for this process's private anonymous memory (what {@link java.lang.foreign.Arena}
 * allocates): a file mapping would not read as zeros afterwards.
 */
public final class Pages {
  private static final int MADV_DONTNEED = 4; // Linux, every architecture cria runs on
  private static final Optional<Calls> CALLS = Calls.find();

  private Pages() {}

  /** Linux's calls, when this is Linux. */
  private record Calls(MethodHandle madvise, MethodHandle mincore, long pageSize) {
    static Optional<Calls> find() {
      if (!System.getProperty("os.name", "").equals("Linux")) {
        return Optional.empty();
      }
      try {
        MethodHandle madvise =
            Libc.function(
                "madvise",
                FunctionDescriptor.of(
                    ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS,
                    ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT));
        MethodHandle mincore =
            Libc.function(
                "mincore",
                FunctionDescriptor.of(
                    ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS,
                    ValueLayout.JAVA_LONG,
                    ValueLayout.ADDRESS));
        MethodHandle pageSize =
            Libc.function("getpagesize", FunctionDescriptor.of(ValueLayout.JAVA_INT));
        return Optional.of(new Calls(madvise, mincore, (int) pageSize.invokeExact()));
      } catch (Throwable t) {
        return Optional.empty();
      }
    }
  }

  /** Whether {@link #release} returns whole pages to the system here (else it only zeroes). */
  public static boolean releases() {
    return CALLS.isPresent();
  }

  /**
   * Makes bytes {@code [from, to)} of {@code segment} read as zeros, returning its whole pages to
   * the system where it can.
   */
  public static void release(MemorySegment segment, long from, long to) {
    if (from < 0 || to < from || to > segment.byteSize()) {
      throw new IllegalArgumentException(
          "bytes [" + from + ", " + to + ") of a segment of " + segment.byteSize());
    }
    if (CALLS.isEmpty()) {
      segment.asSlice(from, to - from).fill((byte) 0);
      return;
    }
    long page = CALLS.get().pageSize();
    long base = segment.address();
    long first = Math.min(to, ceil(base + from, page) - base); // the whole pages: [first, last)
    long last = Math.max(first, floor(base + to, page) - base);
    segment.asSlice(from, first - from).fill((byte) 0);
    segment.asSlice(last, to - last).fill((byte) 0);
    if (last > first) {
      int rc;
      try {
        rc =
            (int)
                CALLS
                    .get()
                    .madvise()
                    .invokeExact(segment.asSlice(first, last - first), last - first, MADV_DONTNEED);
      } catch (Throwable t) {
        rc = -1;
      }
      if (rc != 0 || segment.get(ValueLayout.JAVA_LONG, first) != 0) {
        segment.asSlice(first, last - first).fill((byte) 0); // refused, or not anonymous memory
      }
    }
  }

  /**
   * Bytes of {@code segment}'s pages that are in memory now ({@code mincore}), counting its partial
   * pages whole; the segment's size where that cannot be asked.
   */
  public static long resident(MemorySegment segment) {
    if (CALLS.isEmpty() || segment.byteSize() == 0) {
      return segment.byteSize();
    }
    long page = CALLS.get().pageSize();
    long start = floor(segment.address(), page);
    long end = ceil(segment.address() + segment.byteSize(), page);
    long pages = (end - start) / page;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment vector = arena.allocate(pages);
      int rc =
          (int)
              CALLS
                  .get()
                  .mincore()
                  .invokeExact(MemorySegment.ofAddress(start), end - start, vector);
      if (rc != 0) {
        return segment.byteSize();
      }
      long in = 0;
      for (long i = 0; i < pages; i++) {
        if ((vector.get(ValueLayout.JAVA_BYTE, i) & 1) != 0) {
          in++;
        }
      }
      return in * page;
    } catch (Throwable t) {
      return segment.byteSize();
    }
  }

  private static long floor(long address, long page) {
    return address - Math.floorMod(address, page);
  }

  private static long ceil(long address, long page) {
    return floor(address + page - 1, page);
  }
}
