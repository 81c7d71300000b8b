package dev.cria.train.compile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/** This process's memory as the system counts it (Linux's {@code /proc/self/status}). */
public final class ProcessMemory {
  private ProcessMemory() {}

  /** The peak resident set ({@code VmHWM}), or empty where the system does not say. */
  public static OptionalLong peakResident() {
    return field("VmHWM:");
  }

  /** The resident set now ({@code VmRSS}), or empty where the system does not say. */
  public static OptionalLong resident() {
    return field("VmRSS:");
  }

  /**
   * What this process holds in memory that the system cannot simply drop: anonymous pages (the
   * heap, the tensors, stacks) and shared memory ({@code RssAnon + RssShmem}), without the pages of
   * files it maps (the dataset, a checkpoint being read), which are the page cache's.
   */
  public static OptionalLong held() {
    OptionalLong anon = field("RssAnon:");
    OptionalLong shmem = field("RssShmem:");
    return anon.isPresent() && shmem.isPresent()
        ? OptionalLong.of(anon.getAsLong() + shmem.getAsLong())
        : OptionalLong.empty();
  }

  private static OptionalLong field(String name) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith(name)) {
          String[] parts = line.substring(name.length()).trim().split("\\s+");
          return OptionalLong.of(Long.parseLong(parts[0]) * 1024); // kB
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux, or not readable: unknown
    }
    return OptionalLong.empty();
  }
}
