package dev.cria.train.metrics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/** This process's memory as the system counts it (Linux's {@code /proc/self/status}). */
public final class ProcessMemory {
  private ProcessMemory() {}

  /** The peak resident set ({@code VmHWM}), or empty where the system does not say. */
  public static OptionalLong peakResident() {
    return fields("VmHWM:");
  }

  /** The resident set now ({@code VmRSS}), or empty where the system does not say. */
  public static OptionalLong resident() {
    return fields("VmRSS:");
  }

  /**
   * What this process holds in memory that the system cannot simply drop: anonymous pages (the
   * heap, the tensors, stacks) and shared memory ({@code RssAnon + RssShmem}), without the pages of
   * files it maps (the dataset, a checkpoint being read), which are the page cache's.
   */
  public static OptionalLong held() {
    return fields("RssAnon:", "RssShmem:");
  }

  /**
   * The sum of {@code names}' values, in bytes, from one reading of the file; empty if any lacks.
   */
  private static OptionalLong fields(String... names) {
    try {
      long sum = 0;
      int found = 0;
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        for (String name : names) {
          if (line.startsWith(name)) {
            String[] parts = line.substring(name.length()).trim().split("\\s+");
            sum += Long.parseLong(parts[0]) * 1024; // kB
            found++;
          }
        }
      }
      return found == names.length ? OptionalLong.of(sum) : OptionalLong.empty();
    } catch (IOException | RuntimeException e) {
      return OptionalLong.empty(); // not Linux, or not readable: unknown
    }
  }
}
