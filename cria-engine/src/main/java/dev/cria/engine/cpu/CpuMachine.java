package dev.cria.engine.cpu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import jdk.incubator.vector.FloatVector;

/**
 * This machine as the CPU backend's tuned blockings depend on it: the processor model and its
 * instruction set features (from {@code /proc/cpuinfo}), the cores the JVM may use, the vector
 * width and the backend's threads. The features are shortened to a hash, since the list runs to
 * hundreds of words.
 */
final class CpuMachine {
  private CpuMachine() {}

  /**
   * {@code AMD EPYC 9R14 96-Core Processor, features 3f2a9c1d0b4e, 2 cores, 512-bit vectors, 2
   * threads}.
   */
  static String describe(int threads) {
    return describe(cpuinfo(), Runtime.getRuntime().availableProcessors(), threads);
  }

  static String describe(List<String> cpuinfo, int cores, int threads) {
    String model = field(cpuinfo, "model name");
    if (model.isEmpty()) {
      model = System.getProperty("os.arch") + " (no model name in /proc/cpuinfo)";
    }
    String flags = field(cpuinfo, "flags");
    if (flags.isEmpty()) {
      flags = field(cpuinfo, "Features"); // arm64
    }
    return String.format(
        Locale.ROOT,
        "%s, features %s, %d cores, %d-bit vectors, %d thread%s",
        model,
        hash(flags),
        cores,
        FloatVector.SPECIES_PREFERRED.vectorBitSize(),
        threads,
        threads == 1 ? "" : "s");
  }

  private static List<String> cpuinfo() {
    try {
      return Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8);
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }

  /** The value of the first {@code name : value} line, or empty. */
  private static String field(List<String> lines, String name) {
    for (String line : lines) {
      int colon = line.indexOf(':');
      if (colon > 0 && line.substring(0, colon).strip().equals(name)) {
        return line.substring(colon + 1).strip().replaceAll("\\s+", " ");
      }
    }
    return "";
  }

  private static String hash(String text) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d, 0, 6);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
