package dev.cria.cli.progress;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * Shows the progress of long work on stderr. On a terminal one line is redrawn in place at most
 * five times a second; otherwise (a log file, CI) a full line is printed every {@code
 * intervalSeconds}. {@link #finish()} ends the line.
 */
public final class StatusLine {
  private final PrintWriter err;
  private final boolean terminal;
  private final long intervalNanos;
  private long lastPrint;
  private int lastLength;
  private boolean drawn;

  public StatusLine(PrintWriter err, boolean terminal, double intervalSeconds) {
    this.err = err;
    this.terminal = terminal;
    this.intervalNanos = (long) ((terminal ? 0.2 : intervalSeconds) * 1e9);
    this.lastPrint = System.nanoTime();
  }

  /** A status line for the current process: redrawn on a terminal, every 10 s otherwise. */
  public static StatusLine forConsole(PrintWriter err) {
    return new StatusLine(err, System.console() != null && System.console().isTerminal(), 10);
  }

  /** Shows {@code text} if enough time has passed since the last update (or {@code force}). */
  public void update(String text, boolean force) {
    long now = System.nanoTime();
    if (!force && now - lastPrint < intervalNanos) {
      return;
    }
    lastPrint = now;
    if (terminal) {
      int pad = Math.max(0, lastLength - text.length());
      err.print("\r" + text + " ".repeat(pad));
      lastLength = text.length();
      drawn = true;
    } else {
      err.println(text);
    }
    err.flush();
  }

  /** Ends the status line on a terminal, so what follows starts on a new line. */
  public void finish() {
    if (terminal && drawn) {
      err.println();
      err.flush();
    }
    drawn = false;
  }

  /** A bar such as {@code [=========> ] 45%}. */
  public static String bar(double fraction, int width) {
    double f = Math.max(0, Math.min(1, fraction));
    int filled = (int) Math.round(f * width);
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < width; i++) {
      sb.append(i < filled - 1 ? '=' : i == filled - 1 ? '>' : ' ');
    }
    return sb.append(String.format(Locale.ROOT, "] %3.0f%%", f * 100)).toString();
  }

  /** Seconds as {@code 1h02m}, {@code 3m05s} or {@code 12s}; "?" when unknown. */
  public static String duration(double seconds) {
    if (Double.isNaN(seconds) || Double.isInfinite(seconds) || seconds < 0) {
      return "?";
    }
    long s = Math.round(seconds);
    if (s >= 3600) {
      return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
    }
    if (s >= 60) {
      return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
    return s + "s";
  }

  /** A count with a k/M/G suffix: 1234567 → "1.23M". */
  public static String count(double n) {
    if (n >= 1e9) {
      return String.format(Locale.ROOT, "%.2fG", n / 1e9);
    }
    if (n >= 1e6) {
      return String.format(Locale.ROOT, "%.2fM", n / 1e6);
    }
    if (n >= 1e4) {
      return String.format(Locale.ROOT, "%.1fk", n / 1e3);
    }
    return String.format(Locale.ROOT, "%.0f", n);
  }
}
