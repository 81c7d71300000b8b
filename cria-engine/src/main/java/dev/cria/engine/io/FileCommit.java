package dev.cria.engine.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * How this package's files appear whole or not at all: written under a temporary sibling name,
 * fsynced, then renamed over the target. (cria-data's {@code AtomicFiles} does the same for the
 * modules above the engine, which the engine does not depend on.)
 */
final class FileCommit {
  private FileCommit() {}

  /** A temporary sibling of {@code target}, unique to this process and moment. */
  static Path temporary(Path target) {
    return target.resolveSibling("." + target.getFileName() + ".tmp-" + ProcessHandle.current().pid() + "-"
        + System.nanoTime());
  }

  /** Renames the already fsynced {@code temporary} over {@code target}, atomically where the file system can. */
  static void rename(Path temporary, Path target) throws IOException {
    try {
      Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** Writes {@code text} as UTF-8 to {@code target}, whole or not at all. */
  static void writeString(Path target, String text) throws IOException {
    Path tmp = temporary(target);
    try {
      Files.writeString(tmp, text, StandardCharsets.UTF_8);
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        ch.force(true);
      }
      rename(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }
}
