package dev.cria.cli.watch;

import dev.cria.cli.UserError;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.RunView;
import dev.cria.core.run.StatusFiles;
import dev.cria.core.tensorboard.TensorBoardEvents;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria top}: the blueprint's {@code neuron-top}, for a cria run's ranks. */
@Command(
    name = "top",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Watch a run's ranks live: step, step time, tokens/s, MFU, communication wait, CPU, memory,"
          + " heartbeat.",
      "",
      "Reads <run>/<rank>/status.json, so it works from any machine that sees the run directory. A"
          + " straggler (a step 20%% slower than the median rank's) and a silent rank (no update for"
          + " --silent-after seconds or three of its step times, whichever is longer) are marked. Keys: q"
          + " quit, s sort, space pause.",
      ""
    })
public final class TopCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(index = "0", paramLabel = "RUN", description = "The run directory.")
  Path run;

  @Option(
      names = "--interval",
      paramLabel = "SECONDS",
      defaultValue = "1",
      description = "Seconds between refreshes (default: ${DEFAULT-VALUE}).")
  double interval;

  @Option(names = "--once", description = "Print one frame and exit.")
  boolean once;

  @Option(
      names = "--json",
      description = "Print one JSON object (the run and every rank) and exit.")
  boolean json;

  @Option(
      names = "--silent-after",
      paramLabel = "SECONDS",
      defaultValue = "30",
      description =
          "A rank without an update for this long, three of its step times or six of its"
              + " heartbeats, whichever is longest, is silent (default: ${DEFAULT-VALUE}).")
  double silentAfter;

  private final List<String> unreadable = new ArrayList<>();

  @Override
  public Integer call() throws IOException, InterruptedException {
    PrintWriter out = spec.commandLine().getOut();
    if (interval <= 0 || silentAfter <= 0) {
      throw new UserError("--interval and --silent-after must be positive");
    }
    String name = run.toAbsolutePath().normalize().getFileName().toString();
    if (json) {
      out.println(view().toJson());
      out.flush();
      unreadable.forEach(u -> spec.commandLine().getErr().println("warning: " + u));
      return 0;
    }
    // the trend lines start from the history in the run's event files
    List<Double> loss = new ArrayList<>(TensorBoardEvents.recent(run, "reduced_train_loss", 60));
    List<Double> tokens = new ArrayList<>(TensorBoardEvents.recent(run, "tokens_per_sec", 60));
    if (once) {
      RunView v = view();
      withUnreadable(TopFrame.render(v, name, TopFrame.Sort.RANK, false, loss, tokens, 200, false))
          .forEach(out::println);
      out.flush();
      return 0;
    }
    try (Terminal terminal = Terminal.open()) {
      TopFrame.Sort sort = TopFrame.Sort.RANK;
      boolean paused = false;
      RunView v = view();
      long lastStep = -1;
      while (true) {
        if (!paused) {
          v = view();
          RankStatus lead = v.lead();
          if (lead != null && lead.step() != lastStep) {
            remember(v, loss, tokens);
            lastStep = lead.step();
          }
        }
        int[] size = terminal.size();
        List<String> frame =
            withUnreadable(
                TopFrame.render(
                    v, name, sort, paused, loss, tokens, size[0], terminal.interactive()));
        if (terminal.interactive()) {
          out.print("\033[H\033[2J");
          frame.stream().limit(Math.max(1, size[1] - 1)).forEach(out::println);
        } else {
          frame.forEach(out::println);
          out.println();
        }
        out.flush();
        if (!terminal.interactive() && v.ended()) {
          return 0;
        }
        long until = System.nanoTime() + (long) (interval * 1e9);
        while (System.nanoTime() < until) {
          int key = terminal.key(System.in);
          if (key == 'q' || key == 'Q') {
            return 0;
          } else if (key == 's' || key == 'S') {
            sort = sort.next();
            break;
          } else if (key == ' ') {
            paused = !paused;
            break;
          }
          Thread.sleep(50);
        }
      }
    }
  }

  /**
   * The run's ranks now; a rank whose status file is damaged is left out and said in {@link
   * #unreadable}, so that one bad file does not stop the monitor.
   */
  private RunView view() throws IOException {
    unreadable.clear();
    try {
      return new RunView(
          StatusFiles.readAll(run, line -> unreadable.add(line + "; that rank is left out")),
          System.currentTimeMillis(),
          silentAfter);
    } catch (NoSuchFileException e) {
      throw new UserError(run + ": no such run directory");
    } catch (NotDirectoryException e) {
      throw new UserError(e.getMessage());
    }
  }

  /** The frame with a line for each status file the last view could not read. */
  private List<String> withUnreadable(List<String> frame) {
    List<String> lines = new ArrayList<>(frame);
    unreadable.forEach(u -> lines.add("unreadable: " + u));
    return lines;
  }

  private static void remember(RunView v, List<Double> loss, List<Double> tokens) {
    RankStatus lead = v.lead();
    if (lead != null) {
      loss.add(lead.loss());
      tokens.add(lead.tokensPerSec());
      if (loss.size() > 200) {
        loss.removeFirst();
        tokens.removeFirst();
      }
    }
  }
}
