package dev.cria.core.run;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The rank logs of a run ({@code <run>/<rank>/log}), read and followed together: the last lines of
 * each, then what each adds, merged in time order by the timestamp every line starts with ({@code
 * [yyyy-MM-dd HH:mm:ss.SSS]}, or without the milliseconds as logs of earlier versions have it;
 * lines of the same moment keep their rank's order).
 */
public final class RunLogs {
  /** One line of one rank's log. */
  public record Line(int rank, String text) {
    /** The timestamp the line starts with, or "" when it has none (it sorts first). */
    String time() {
      int end = text.indexOf(']');
      return text.startsWith("[") && end >= 20 && end <= 24 ? text.substring(1, end) : "";
    }
  }

  private final Path runDir;
  private final boolean everyRank;
  private final List<Integer> ranks = new ArrayList<>();
  private final List<LogFollower> followers = new ArrayList<>();

  private RunLogs(Path runDir, List<Integer> ranks, boolean everyRank) {
    this.runDir = runDir;
    this.everyRank = everyRank;
    ranks.forEach(this::follow);
  }

  private void follow(int rank) {
    ranks.add(rank);
    followers.add(LogFollower.fromStart(logFile(runDir, rank)));
  }

  /** Following every rank: ranks whose directories appeared since are followed too. */
  private void discover() throws IOException {
    if (everyRank) {
      for (int r : ranks(runDir)) {
        if (!ranks.contains(r)) {
          follow(r);
        }
      }
    }
  }

  /** {@code <run>/<rank>/log}. */
  public static Path logFile(Path runDir, int rank) {
    return runDir.resolve(Integer.toString(rank)).resolve("log");
  }

  /** The ranks that have a directory in the run, in order. */
  public static List<Integer> ranks(Path runDir) throws IOException {
    try (Stream<Path> s = Files.list(runDir)) {
      return s.filter(p -> Files.isDirectory(p) && p.getFileName().toString().matches("\\d+"))
          .map(p -> Integer.parseInt(p.getFileName().toString()))
          .sorted()
          .toList();
    } catch (NoSuchFileException e) {
      throw new NoSuchFileException(runDir.toString(), null, "no such run directory");
    }
  }

  /**
   * The log of one rank; unless it may appear later ({@code waitForIt}), a missing run directory or
   * log is an {@link IllegalArgumentException} naming the path. A rank the run does not have (its
   * rank 0's status gives their count) is one even when waiting: that log would never come.
   */
  public static RunLogs ofRank(Path runDir, int rank, boolean waitForIt) {
    if (rank < 0) {
      throw new IllegalArgumentException("--rank must be zero or more, got " + rank);
    }
    if (!Files.isDirectory(runDir)) {
      throw new IllegalArgumentException(runDir + ": no such run directory");
    }
    if (!Files.isRegularFile(logFile(runDir, rank))) {
      int worldSize = worldSize(runDir);
      if (rank >= worldSize) {
        throw new IllegalArgumentException(
            "no rank "
                + rank
                + ": "
                + runDir
                + " is a run of "
                + worldSize
                + " rank(s), 0 to "
                + (worldSize - 1));
      }
      if (!waitForIt) {
        throw new IllegalArgumentException(
            "no log at " + logFile(runDir, rank) + " (yet); -f waits for it");
      }
    }
    return new RunLogs(runDir, List.of(rank), false);
  }

  /**
   * The ranks of the run as its rank 0's status file says (their count); {@link Integer#MAX_VALUE}
   * while that file is absent or unreadable.
   */
  private static int worldSize(Path runDir) {
    try {
      return StatusFiles.read(StatusFiles.file(runDir, 0)).worldSize();
    } catch (IOException | RuntimeException e) {
      return Integer.MAX_VALUE;
    }
  }

  /** The logs of every rank of the run in {@code runDir} that has a directory now. */
  public static RunLogs ofAllRanks(Path runDir, boolean waitForThem) throws IOException {
    List<Integer> ranks = ranks(runDir);
    if (ranks.isEmpty() && !waitForThem) {
      throw new IllegalArgumentException(runDir + " has no rank logs yet (<run>/<rank>/log)");
    }
    return new RunLogs(runDir, ranks, true);
  }

  /** The logs of {@code ranks} of the run in {@code runDir}. */
  public static RunLogs of(Path runDir, List<Integer> ranks) {
    return new RunLogs(runDir, ranks, false);
  }

  /** The followed logs that do not exist (yet). */
  public List<Path> absent() {
    return followers.stream().map(LogFollower::file).filter(f -> !Files.exists(f)).toList();
  }

  public List<Integer> ranksFollowed() {
    return List.copyOf(ranks);
  }

  /**
   * The last {@code n} lines of every followed log, merged in time order (the last {@code n} of the
   * merge), and the followers placed at the logs' ends.
   */
  public List<Line> tail(int n) throws IOException {
    List<Line> merged = read();
    return merged.subList(Math.max(0, merged.size() - n), merged.size());
  }

  /** The lines added to the followed logs since the last call, merged in time order. */
  public List<Line> poll() throws IOException {
    discover();
    return read();
  }

  /** What every follower has not yet returned, merged in time order. */
  private List<Line> read() throws IOException {
    List<Line> all = new ArrayList<>();
    for (int i = 0; i < ranks.size(); i++) {
      int rank = ranks.get(i);
      for (String text : followers.get(i).poll()) {
        all.add(new Line(rank, text));
      }
    }
    return merge(all);
  }

  /**
   * How the followed ranks stand, read from their status files at {@code nowMillis}.
   *
   * @param ended whether following can stop: every followed rank's status says it stopped, failed
   *     or finished, or its process is gone from this host without saying so; a rank without a
   *     status file has not ended
   * @param gone by rank, a line for each rank whose process is gone without ending (killed, out of
   *     memory)
   * @param silent by rank, a line for each rank of another host that has not written its status for
   *     longer than {@link RunView#silent} allows: its process may be gone, or its storage
   *     unreachable; it may still come back, so following goes on
   */
  public record Standing(boolean ended, Map<Integer, String> gone, Map<Integer, String> silent) {
    public Standing {
      gone = Map.copyOf(gone);
      silent = Map.copyOf(silent);
    }
  }

  /**
   * How the followed ranks stand at {@code nowMillis}, {@code silentAfter} as in {@link RunView}.
   */
  public Standing standing(long nowMillis, double silentAfterSeconds) {
    String thisHost = RankStatus.thisHost();
    boolean ended = !ranks.isEmpty();
    Map<Integer, String> gone = new TreeMap<>();
    Map<Integer, String> silent = new TreeMap<>();
    for (int r : ranks) {
      RankStatus status;
      try {
        status = StatusFiles.read(StatusFiles.file(runDir, r));
      } catch (IOException | RuntimeException e) {
        ended = false; // not written yet, or being replaced: the next look reads it
        continue;
      }
      if (status.goneFrom(thisHost)) {
        gone.put(
            r,
            String.format(
                Locale.ROOT,
                "rank %d (pid %d on this host) is gone without ending its run, after step %d"
                    + " (killed, or out of memory?)",
                r,
                status.pid(),
                status.step()));
      } else if (!status.state().ended()) {
        ended = false;
        RunView view = new RunView(List.of(status), nowMillis, silentAfterSeconds);
        if (view.silent(status)) {
          silent.put(
              r,
              String.format(
                  Locale.ROOT,
                  "rank %d (pid %d on %s) has not written its status for %.0f s: its process may"
                      + " be gone; still following (Ctrl-C to stop)",
                  r,
                  status.pid(),
                  status.host(),
                  status.ageSeconds(nowMillis)));
        }
      }
    }
    return new Standing(ended, gone, silent);
  }

  private static List<Line> merge(List<Line> lines) {
    List<Line> sorted = new ArrayList<>(lines);
    sorted.sort(
        Comparator.comparing(Line::time)); // stable: a rank's lines of one second keep their order
    return sorted;
  }
}
