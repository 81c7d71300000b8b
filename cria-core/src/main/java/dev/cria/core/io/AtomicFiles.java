package dev.cria.core.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes that a crash cannot leave half done: write to a temporary sibling, fsync it, rename it
 * over the target, fsync the directory. Readers see the old file or the new one, never a mix.
 */
public final class AtomicFiles {
  /** Numbers the temporaries of this process: threads writing at once never pick the same name. */
  private static final java.util.concurrent.atomic.AtomicLong SEQUENCE =
      new java.util.concurrent.atomic.AtomicLong(System.nanoTime() & Long.MAX_VALUE);

  private AtomicFiles() {}

  /**
   * A temporary sibling of {@code target} in the same directory (so the rename stays on one file
   * system), named so that nobody mistakes it for the real file: {@code .NAME.tmp-PID-N}.
   */
  public static Path temporarySibling(Path target) {
    Path dir = target.toAbsolutePath().getParent();
    String name =
        "."
            + target.getFileName()
            + ".tmp-"
            + ProcessHandle.current().pid()
            + "-"
            + SEQUENCE.getAndIncrement();
    return dir.resolve(name);
  }

  /**
   * Removes the temporary siblings of {@code target} ({@link #temporarySibling}) left by processes
   * that died before they could rename or delete them (their pid no longer runs); a live process's
   * are left alone. Returns how many were removed.
   */
  public static int removeStaleTemporaries(Path target) throws IOException {
    Path dir = target.toAbsolutePath().getParent();
    if (dir == null || !Files.isDirectory(dir)) {
      return 0;
    }
    java.util.regex.Pattern ours =
        java.util.regex.Pattern.compile(
            java.util.regex.Pattern.quote("." + target.getFileName() + ".tmp-") + "(\\d+)-\\d+");
    int removed = 0;
    try (java.util.stream.Stream<Path> s = Files.list(dir)) {
      for (Path p : s.toList()) {
        java.util.regex.Matcher m = ours.matcher(p.getFileName().toString());
        if (m.matches()
            && Files.isRegularFile(p)
            && ProcessHandle.of(Long.parseLong(m.group(1))).map(h -> !h.isAlive()).orElse(true)) {
          Files.deleteIfExists(p);
          removed++;
        }
      }
    }
    return removed;
  }

  /** Fsyncs {@code temporary}, renames it to {@code target} atomically and fsyncs the directory. */
  public static void commit(Path temporary, Path target) throws IOException {
    try (FileChannel ch = FileChannel.open(temporary, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
    rename(temporary, target);
  }

  /**
   * Renames {@code temporary}, which the caller has already fsynced (a large file written through
   * its own channel), over {@code target}, atomically where the file system can, and fsyncs the
   * directory.
   */
  public static void rename(Path temporary, Path target) throws IOException {
    requireNotDirectory(target);
    try {
      Files.move(
          temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING);
    }
    fsyncDirectory(target.toAbsolutePath().getParent());
  }

  /**
   * Replaces {@code target} with {@code text} so that readers see the old file or the new one,
   * never a mix, without waiting for the disk (no fsync): for files rewritten often whose last
   * version matters only while the writer lives, such as a rank's live status.
   */
  public static void replaceString(Path target, String text) throws IOException {
    Path tmp = temporarySibling(target);
    try {
      Files.createDirectories(tmp.getParent());
      Files.writeString(tmp, text, StandardCharsets.UTF_8);
      try {
        Files.move(
            tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Copies {@code source} to {@code target} atomically (a fsynced temporary sibling, renamed). */
  public static void copy(Path source, Path target) throws IOException {
    Files.createDirectories(target.toAbsolutePath().getParent());
    Path tmp = temporarySibling(target);
    try {
      Files.copy(source, tmp);
      commit(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Writes {@code bytes} to {@code target} atomically. */
  public static void write(Path target, byte[] bytes) throws IOException {
    requireNotDirectory(target);
    Path parent = target.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp = temporarySibling(target);
    try {
      Files.write(tmp, bytes, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      commit(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /**
   * Refuses a {@code target} that is a directory, which a rename would remove when empty (and fail
   * on, naming the temporary file, when not).
   */
  private static void requireNotDirectory(Path target) throws IOException {
    if (Files.isDirectory(target)) {
      throw new java.nio.file.FileSystemException(
          target.toString(), null, "is a directory; give the path of a file");
    }
  }

  /** Writes {@code text} as UTF-8 to {@code target} atomically. */
  public static void writeString(Path target, String text) throws IOException {
    write(target, text.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * Deletes {@code root} and everything under it, deepest first; nothing for null or a missing
   * path.
   */
  public static void deleteTree(Path root) throws IOException {
    if (root == null || !Files.exists(root)) {
      return;
    }
    try (java.util.stream.Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  /** Fsyncs a directory, so that renames and new entries in it survive a crash. */
  public static void fsyncDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | UnsupportedOperationException e) {
      // Some file systems cannot fsync a directory; the rename itself is still atomic there.
    }
  }
}
