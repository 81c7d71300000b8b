package dev.cria.data.prepare;

import java.nio.file.Path;

/** An input line cannot be used; the message names the file and the 1-based line number. */
public final class BadInputException extends RuntimeException {
  private final Path file;
  private final long line;

  public BadInputException(Path file, long line, String problem) {
    super(file + ":" + line + ": " + problem);
    this.file = file;
    this.line = line;
  }

  public Path file() {
    return file;
  }

  public long line() {
    return line;
  }
}
