package dev.cria.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What Linux's {@code /proc/<pid>/stat} says of a process's state. */
final class ProcessStates {
  private ProcessStates() {}

  /**
   * Whether process {@code pid} is stopped by a signal (state {@code T}) or traced ({@code t});
   * false when it is gone or this is not Linux.
   */
  static boolean stopped(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      // "pid (comm) S ...": the command may hold spaces and parentheses; the state follows the last
      int close = stat.lastIndexOf(')');
      if (close < 0 || close + 2 >= stat.length()) {
        return false;
      }
      char state = stat.charAt(close + 2);
      return state == 'T' || state == 't';
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }
}
