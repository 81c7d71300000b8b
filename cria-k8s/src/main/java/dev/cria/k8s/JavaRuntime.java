package dev.cria.k8s;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A Java runtime with only the modules cria needs, made by {@code jlink} from the JDK that runs
 * cria, kept in a cache keyed by that JDK and the modules so that later images reuse the same bytes
 * (and their digests stay the same).
 */
public final class JavaRuntime {
  /**
   * The modules cria uses: the engine's Vector API, the board's HTTP server, the cluster client.
   */
  public static final List<String> MODULES =
      List.of(
          "java.base",
          "java.logging",
          "java.management",
          "java.naming",
          "java.net.http",
          "java.sql",
          "java.xml",
          "jdk.crypto.ec",
          "jdk.httpserver",
          "jdk.incubator.vector",
          "jdk.management",
          "jdk.unsupported",
          "jdk.zipfs");

  private JavaRuntime() {}

  /**
   * The runtime for {@code modules} under {@code cache}, linked now if it is not there yet; {@code
   * progress} hears what takes time.
   */
  public static Path linked(
      Path cache, List<String> modules, java.util.function.Consumer<String> progress)
      throws IOException {
    Path javaHome = Path.of(System.getProperty("java.home"));
    Path jlink = javaHome.resolve("bin").resolve("jlink");
    if (!Files.isExecutable(jlink)) {
      throw new K8sException(
          jlink
              + " is missing: the image's Java runtime is linked from a full JDK (this is "
              + System.getProperty("java.runtime.version")
              + " without jlink)");
    }
    Path target = cache.resolve(key(javaHome, modules));
    if (Files.isRegularFile(target.resolve("release"))) {
      return target;
    }
    Files.createDirectories(cache);
    Path partial = Files.createTempDirectory(cache, ".jlink-");
    try {
      Path output = partial.resolve("java");
      Path log = partial.resolve("jlink.log");
      List<String> cmd =
          new ArrayList<>(
              List.of(
                  jlink.toString(),
                  "--add-modules",
                  String.join(",", modules),
                  "--strip-debug",
                  "--no-header-files",
                  "--no-man-pages",
                  "--compress",
                  "zip-6",
                  "--output",
                  output.toString()));
      progress.accept("linking a Java runtime (" + modules.size() + " modules) with jlink ...");
      Process p =
          new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
      try {
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
          p.destroyForcibly();
          throw new K8sException("jlink did not finish in 10 minutes");
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
        throw new K8sException("interrupted while linking the Java runtime");
      }
      if (p.exitValue() != 0) {
        throw new K8sException("jlink failed: " + Files.readString(log).strip());
      }
      try {
        Files.move(output, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
      } catch (java.nio.file.FileSystemException e) {
        if (!Files.isRegularFile(target.resolve("release"))) {
          throw e;
        } // another build linked the same runtime meanwhile: use that one
      }
      return target;
    } finally {
      deleteTree(partial);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (var files = Files.walk(dir)) {
      for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(f);
      }
    }
  }

  /** The cache's name for a runtime: the JDK's version and the modules, hashed. */
  static String key(Path javaHome, List<String> modules) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(System.getProperty("java.runtime.version").getBytes(StandardCharsets.UTF_8));
      sha.update(javaHome.toString().getBytes(StandardCharsets.UTF_8));
      sha.update(String.join(",", modules).getBytes(StandardCharsets.UTF_8));
      return "java-"
          + Runtime.version().feature()
          + "-"
          + HexFormat.of().formatHex(sha.digest()).substring(0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
