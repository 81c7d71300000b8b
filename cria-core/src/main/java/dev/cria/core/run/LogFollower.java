package dev.cria.core.run;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Objects;

/**
 * Follows a log file as {@code tail -F} does: the file may appear later, be truncated (reading
 * starts again from its beginning) or be replaced by another file of the same name (the new one is
 * read from its beginning). {@link #poll()} returns the complete lines written since the last call;
 * a line still being written is held until its newline arrives.
 */
public final class LogFollower {
  private final Path file;
  private Object fileKey;
  private long position;
  private final ByteArrayOutputStream partial = new ByteArrayOutputStream();

  private LogFollower(Path file, long position) {
    this.file = file;
    this.position = position;
  }

  /** Follows {@code file} from its end (now), keeping what was written before out. */
  public static LogFollower fromEnd(Path file) throws IOException {
    LogFollower f = new LogFollower(file, 0);
    try {
      BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
      f.fileKey = a.fileKey();
      f.position = a.size();
    } catch (NoSuchFileException e) {
      // it appears later: read it from its beginning then
    }
    return f;
  }

  /** Follows {@code file} from its beginning. */
  public static LogFollower fromStart(Path file) {
    return new LogFollower(file, 0);
  }

  public Path file() {
    return file;
  }

  /** The complete lines added since the last call; none while the file does not exist. */
  public List<String> poll() throws IOException {
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(file, BasicFileAttributes.class);
    } catch (NoSuchFileException e) {
      return List.of();
    }
    if (fileKey != null && !Objects.equals(fileKey, a.fileKey())) {
      position = 0; // replaced by another file
      partial.reset();
    }
    fileKey = a.fileKey();
    if (a.size() < position) {
      position = 0; // truncated
      partial.reset();
    }
    if (a.size() == position) {
      return List.of();
    }
    List<String> lines = new ArrayList<>();
    try (RandomAccessFile in = new RandomAccessFile(file.toFile(), "r")) {
      in.seek(position);
      byte[] buffer = new byte[8192];
      int n;
      while ((n = in.read(buffer)) > 0) {
        for (int i = 0; i < n; i++) {
          if (buffer[i] == '\n') {
            lines.add(partial.toString(StandardCharsets.UTF_8));
            partial.reset();
          } else {
            partial.write(buffer[i]);
          }
        }
        position += n;
      }
    } catch (java.io.FileNotFoundException e) {
      return lines; // removed between the look and the read
    }
    return lines;
  }

  /**
   * The last {@code n} lines of {@code file} (fewer when it has fewer; none when it is missing);
   * bytes that are not UTF-8 read as U+FFFD, as {@code cria logs} shows them.
   */
  public static List<String> lastLines(Path file, int n) throws IOException {
    if (n <= 0 || !Files.isRegularFile(file)) {
      return List.of();
    }
    Deque<String> last = new ArrayDeque<>();
    try (var in =
        new java.io.BufferedReader(
            new java.io.InputStreamReader(Files.newInputStream(file), StandardCharsets.UTF_8))) {
      for (String l = in.readLine(); l != null; l = in.readLine()) {
        last.addLast(l);
        if (last.size() > n) {
          last.removeFirst();
        }
      }
    }
    return List.copyOf(last);
  }
}
