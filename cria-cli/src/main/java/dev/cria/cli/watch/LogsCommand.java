package dev.cria.cli.watch;

import dev.cria.cli.UserError;
import dev.cria.core.run.RunLogs;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria logs}: a run's rank logs, the blueprint's {@code tail -f <run>/<rank>/log}. */
@Command(
    name = "logs",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Show a run's rank logs (<run>/<rank>/log), or follow them as tail -F does.",
      "",
      "With -f the log may appear later, be truncated or replaced; following ends by itself when every"
          + " followed rank's status says the run has stopped, failed or finished, or its process"
          + " is gone from this machine without saying so (killed). A rank of another machine that"
          + " goes quiet is told of on stderr, and followed on.",
      ""
    })
public final class LogsCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(index = "0", paramLabel = "RUN", description = "The run directory.")
  Path run;

  static final class Which {
    @Option(names = "--rank", paramLabel = "R", description = "This rank's log (default: 0).")
    Integer rank;

    @Option(
        names = "--all",
        description = "Every rank's log, merged in time order, prefixed [rank r].")
    boolean all;
  }

  @ArgGroup(exclusive = true)
  Which which = new Which();

  @Option(
      names = {"-f", "--follow"},
      description = "Keep printing what is added until the run ends.")
  boolean follow;

  @Option(
      names = {"-n", "--lines"},
      paramLabel = "N",
      defaultValue = "10",
      description = "Show the last N lines first (default: ${DEFAULT-VALUE}).")
  int lines;

  @Option(
      names = "--poll",
      paramLabel = "SECONDS",
      defaultValue = "0.25",
      description = "How often to look for new lines when following (default: ${DEFAULT-VALUE}).")
  double poll;

  /** A rank of another host quiet for this long, or six of its heartbeats, is told of. */
  private static final double SILENT_AFTER_SECONDS = 60;

  @Override
  public Integer call() throws IOException, InterruptedException {
    PrintWriter out = spec.commandLine().getOut();
    if (lines < 0) {
      throw new UserError("-n must be zero or more, got " + lines);
    }
    RunLogs logs;
    try {
      logs =
          which.all
              ? RunLogs.ofAllRanks(run, follow)
              : RunLogs.ofRank(run, which.rank != null ? which.rank : 0, follow);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    boolean prefix = which.all;
    print(out, logs.tail(lines), prefix);
    if (!follow) {
      return 0;
    }
    PrintWriter err = spec.commandLine().getErr();
    for (Path missing : logs.absent()) {
      err.println("cria logs: waiting for " + missing + " to appear");
    }
    long sleep = Math.max(10, (long) (poll * 1000));
    Set<Integer> toldGone = new HashSet<>();
    Set<Integer> toldSilent = new HashSet<>();
    while (true) {
      // looked at before the last read, so nothing written before the end is lost
      RunLogs.Standing now = logs.standing(System.currentTimeMillis(), SILENT_AFTER_SECONDS);
      print(out, logs.poll(), prefix);
      tellOnce(err, now.gone(), toldGone);
      tellOnce(err, now.silent(), toldSilent);
      if (now.ended()) {
        return 0;
      }
      Thread.sleep(sleep);
    }
  }

  /**
   * Prints each rank's notice the first time it is there; a rank no longer in {@code notices}
   * (heard from again, or a new process) is told anew when it comes back.
   */
  private static void tellOnce(PrintWriter err, Map<Integer, String> notices, Set<Integer> told) {
    notices.forEach((rank, line) -> {
      if (told.add(rank)) {
        err.println("cria logs: " + line);
      }
    });
    told.retainAll(notices.keySet());
    err.flush();
  }

  private static void print(PrintWriter out, List<RunLogs.Line> lines, boolean prefix) {
    for (RunLogs.Line l : lines) {
      out.println(prefix ? "[rank " + l.rank() + "] " + l.text() : l.text());
    }
    out.flush();
  }
}
