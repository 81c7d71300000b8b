package dev.cria.cli.watch;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * The terminal {@code cria top} draws on, through {@code stty} on {@code /dev/tty}: keys one at a
 * time without echo, and the size asked again before every frame, so a resized window is redrawn to
 * fit. Without a terminal (output to a pipe or file, {@code TERM=dumb}) it is plain: frames follow
 * one another, no keys.
 */
final class Terminal implements AutoCloseable {
  private final boolean interactive;
  private final String saved;

  private Terminal(boolean interactive, String saved) {
    this.interactive = interactive;
    this.saved = saved;
  }

  /** The controlling terminal in key-at-a-time mode, or a plain one when there is none. */
  static Terminal open() {
    String term = System.getenv("TERM");
    if (System.console() == null
        || term == null
        || term.equals("dumb")
        || System.getProperty("os.name", "").startsWith("Windows")) {
      return new Terminal(false, null);
    }
    try {
      String saved = stty("-g").trim();
      stty("-icanon", "-echo", "min", "0", "time", "0");
      Terminal t = new Terminal(true, saved);
      Runtime.getRuntime().addShutdownHook(new Thread(t::restore, "cria-top-terminal"));
      return t;
    } catch (IOException e) {
      return new Terminal(false, null);
    }
  }

  boolean interactive() {
    return interactive;
  }

  /** Columns and rows now ({@code COLUMNS}/{@code LINES} or 100 x 40 without a terminal). */
  int[] size() {
    if (interactive) {
      try {
        String[] rc = stty("size").trim().split("\\s+");
        return new int[] {Integer.parseInt(rc[1]), Integer.parseInt(rc[0])};
      } catch (IOException | RuntimeException e) {
        // fall through
      }
    }
    return new int[] {env("COLUMNS", 100), env("LINES", 40)};
  }

  /** A key pressed since the last call, or -1. */
  int key(InputStream in) throws IOException {
    return interactive && in.available() > 0 ? in.read() : -1;
  }

  private static int env(String name, int fallback) {
    try {
      return Integer.parseInt(System.getenv(name));
    } catch (RuntimeException e) {
      return fallback;
    }
  }

  private void restore() {
    if (interactive && saved != null) {
      try {
        stty(saved);
      } catch (IOException e) {
        // the terminal is gone
      }
    }
  }

  @Override
  public void close() {
    restore();
  }

  private static String stty(String... args) throws IOException {
    // through the shell, so that stty's input is the controlling terminal
    Process p =
        new ProcessBuilder("sh", "-c", "stty " + String.join(" ", args) + " < /dev/tty")
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    try {
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (p.waitFor() != 0) {
        throw new IOException("stty " + String.join(" ", args) + " failed");
      }
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }
}
