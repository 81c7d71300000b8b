package dev.cria.onednn;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.stream.Stream;

/**
 * Unpacks oneDNN's shared libraries from the class path into a directory of their own, once per
 * artifact version: {@code $XDG_CACHE_HOME/cria/native/onednn-<version>} (else {@code
 * ~/.cache/...}, else the temporary directory when the home is not writable). Each process that
 * finds the directory missing unpacks into a temporary sibling, fsyncs, and renames it into place;
 * when two race, one rename wins and the other's copy is removed. A directory is used only when its
 * completion mark is there.
 */
final class NativeLibraries {
  /** The jar's folder of linux-x86_64 libraries. */
  static final String RESOURCE_DIR = "/org/bytedeco/dnnl/linux-x86_64/";

  /** In loading order: OpenMP's runtime, then oneDNN (which finds it by its {@code $ORIGIN}). */
  static final List<String> LIBRARIES = List.of("libgomp.so.1", "libdnnl.so.3");

  private static final String COMPLETE = ".complete";

  private NativeLibraries() {}

  /** The artifact version these libraries came from ({@code 3.11-1.5.13}). */
  static String artifactVersion() {
    Properties p = new Properties();
    try (InputStream in = NativeLibraries.class.getResourceAsStream("onednn.properties")) {
      if (in == null) {
        throw new IllegalStateException("onednn.properties is missing from cria-onednn's jar");
      }
      p.load(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return p.getProperty("version");
  }

  /**
   * The directory holding {@link #LIBRARIES}, unpacked now if needed.
   *
   * @throws IllegalStateException when the libraries are not on the class path (the dnnl jar is
   *     missing) or no directory can be written
   */
  static Path unpacked() {
    String name = "onednn-" + artifactVersion();
    IOException last = null;
    for (Path root : roots()) {
      try {
        return unpackInto(root, name);
      } catch (IOException e) {
        last = e;
      }
    }
    throw new IllegalStateException(
        "cannot unpack oneDNN's libraries into " + roots() + ": " + last, last);
  }

  private static List<Path> roots() {
    String cache = System.getenv("XDG_CACHE_HOME");
    Path home =
        cache != null && !cache.isBlank()
            ? Path.of(cache)
            : Path.of(System.getProperty("user.home"), ".cache");
    return List.of(
        home.resolve("cria").resolve("native"),
        Path.of(System.getProperty("java.io.tmpdir"))
            .resolve("cria-native-" + System.getProperty("user.name")));
  }

  /** Unpacks into {@code root/name} unless a complete copy is there already. */
  static Path unpackInto(Path root, String name) throws IOException {
    Path target = root.resolve(name);
    if (Files.exists(target.resolve(COMPLETE))) {
      return target;
    }
    Files.createDirectories(root);
    Path temp = Files.createTempDirectory(root, name + ".part-");
    try {
      for (String library : LIBRARIES) {
        try (InputStream in = NativeLibraries.class.getResourceAsStream(RESOURCE_DIR + library)) {
          if (in == null) {
            throw new IllegalStateException(
                library
                    + " is not on the class path (org.bytedeco:dnnl:"
                    + artifactVersion()
                    + ":linux-x86_64 is missing)");
          }
          Path file = temp.resolve(library);
          Files.copy(in, file);
          fsync(file);
        }
      }
      Files.writeString(temp.resolve(COMPLETE), artifactVersion() + "\n");
      fsync(temp.resolve(COMPLETE));
      fsync(temp);
      try {
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        fsync(root);
      } catch (FileSystemException e) { // another process won the race, or something else is there
        if (!Files.exists(target)) {
          throw e;
        }
        if (!Files.exists(target.resolve(COMPLETE))) {
          throw new IOException(
              target + " exists but is not a complete unpacking (no " + COMPLETE + ")", e);
        }
      }
      return target;
    } finally {
      deleteOwn(temp);
    }
  }

  private static void fsync(Path path) throws IOException {
    try (FileChannel channel =
        FileChannel.open(
            path, Files.isDirectory(path) ? StandardOpenOption.READ : StandardOpenOption.WRITE)) {
      channel.force(true);
    }
  }

  /** Removes this process's temporary copy when it did not become the target. */
  private static void deleteOwn(Path temp) throws IOException {
    if (!Files.exists(temp)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(temp)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
