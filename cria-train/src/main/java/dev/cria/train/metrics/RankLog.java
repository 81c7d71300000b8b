package dev.cria.train.metrics;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/**
 * A rank's human-readable log, {@code <run-dir>/<rank>/log} as in the blueprint: one timestamped
 * line per event, appended and flushed at once so that {@code tail -f} follows it.
 */
public final class RankLog implements AutoCloseable {
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS");
  private final Path file;
  private final BufferedWriter out;

  private RankLog(Path file, BufferedWriter out) {
    this.file = file;
    this.out = out;
  }

  /** Opens (appending) {@code <runDir>/<rank>/log}. */
  public static RankLog open(Path runDir, int rank) throws IOException {
    Path dir = runDir.resolve(Integer.toString(rank));
    Files.createDirectories(dir);
    Path file = dir.resolve("log");
    return new RankLog(
        file,
        Files.newBufferedWriter(
            file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND));
  }

  public Path file() {
    return file;
  }

  /**
   * Appends one timestamped line.
   *
   * @throws IOException naming the file (a full disk says which one is full)
   */
  public synchronized void line(String text) throws IOException {
    try {
      out.write("[" + LocalDateTime.now().format(TIME) + "] " + text);
      out.newLine();
      out.flush();
    } catch (IOException e) {
      throw new IOException("cannot write the rank log " + file + ": " + e.getMessage(), e);
    }
  }

  @Override
  public synchronized void close() throws IOException {
    out.close();
  }
}
