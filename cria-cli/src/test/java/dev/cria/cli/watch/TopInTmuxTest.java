package dev.cria.cli.watch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.cli.train.SmallCorpus;
import dev.cria.core.run.RankState;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cria top in a real terminal: tmux runs it beside a two-worker training run; both ranks show, and
 * once one worker is frozen (SIGSTOP) its row turns silent while the other stays live. Skips,
 * saying so, where tmux is not installed (.ci/run installs it).
 */
class TopInTmuxTest {
  @TempDir Path tmp;

  @Test
  void bothRanksShowAndAFrozenWorkerTurnsSilent() throws Exception {
    assumeTrue(
        Files.isExecutable(Path.of("/usr/bin/tmux")),
        "tmux is not installed: apt-get install tmux");
    SmallCorpus corpus = SmallCorpus.prepareIn(tmp);
    Path run = tmp.resolve("run");
    List<String> train = SmallCorpus.criaJvm();
    train.addAll(
        corpus.args(
            "train",
            run,
            "--nproc",
            "2",
            "--global-batch",
            "4",
            "--max-steps",
            "1000000",
            "--val-interval",
            "0",
            "--save-interval-minutes",
            "0",
            "distributed.heartbeat_seconds=2")); // silent after 12 s, as --silent-after below
    Process job =
        new ProcessBuilder(train)
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("train.out").toFile())
            .start();
    String session = "cria-top-" + ProcessHandle.current().pid();
    List<RankStatus> ranks = List.of();
    try {
      long deadline = System.nanoTime() + 120_000_000_000L;
      while (System.nanoTime() < deadline) {
        ranks = Files.isDirectory(run) ? StatusFiles.readAll(run) : List.of();
        if (ranks.size() == 2 && ranks.stream().allMatch(r -> r.state() == RankState.TRAINING)) {
          break;
        }
        Thread.sleep(200);
      }
      assertThat(ranks).as(Files.readString(tmp.resolve("train.out"))).hasSize(2);
      List<String> top = SmallCorpus.criaJvm();
      top.addAll(List.of("top", run.toString(), "--interval", "0.3", "--silent-after", "12"));
      tmux(
          "new-session",
          "-d",
          "-s",
          session,
          "-x",
          "170",
          "-y",
          "30",
          String.join(" ", quoted(top)));
      String screen =
          waitFor(
              session, s -> s.contains("training") && rowOf(s, 0) != null && rowOf(s, 1) != null);
      assertThat(rowOf(screen, 0)).doesNotContain("SILENT");
      assertThat(rowOf(screen, 1)).doesNotContain("SILENT");

      long frozen = ranks.get(1).pid();
      new ProcessBuilder("kill", "-STOP", Long.toString(frozen)).start().waitFor();
      screen = waitFor(session, s -> rowOf(s, 1) != null && rowOf(s, 1).contains("SILENT"));
      // its heartbeat goes on while it waits; its peer watch may already have ended it (failed),
      // since the watch and cria top both wait six heartbeats: never SILENT either way
      assertThat(rowOf(screen, 0)).doesNotContain("SILENT");

      tmux("send-keys", "-t", session, "q");
      long quit = System.nanoTime() + 10_000_000_000L;
      while (System.nanoTime() < quit && tmuxStatus("has-session", "-t", session) == 0) {
        Thread.sleep(100);
      }
      assertThat(tmuxStatus("has-session", "-t", session)).as("q quits cria top").isNotZero();
    } finally {
      tmuxStatus("kill-session", "-t", session);
      for (RankStatus r : ranks) {
        ProcessHandle.of(r.pid()).ifPresent(ProcessHandle::destroyForcibly);
      }
      job.descendants().forEach(ProcessHandle::destroyForcibly);
      job.destroyForcibly();
    }
  }

  /** The row of rank {@code rank} on the screen, or null. */
  private static String rowOf(String screen, int rank) {
    return screen
        .lines()
        .filter(l ->
            l.matches(
                "\\s+" + rank + " \\S+\\s+(training|starting|validating|saving|failed|stopped).*"))
        .findFirst()
        .orElse(null);
  }

  private static String waitFor(String session, Predicate<String> ready) throws Exception {
    String screen = "";
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (System.nanoTime() < deadline) {
      screen = capture(session);
      if (ready.test(screen)) {
        return screen;
      }
      Thread.sleep(200);
    }
    throw new AssertionError("the screen never showed what was expected:\n" + screen);
  }

  private static String capture(String session) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("tmux", "capture-pane", "-p", "-t", session).start();
    String out = new String(p.getInputStream().readAllBytes());
    p.waitFor();
    return out;
  }

  private static void tmux(String... args) throws IOException, InterruptedException {
    assertThat(tmuxStatus(args)).as("tmux " + String.join(" ", args)).isZero();
  }

  private static int tmuxStatus(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("tmux"));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectErrorStream(true).start().waitFor();
  }

  private static List<String> quoted(List<String> args) {
    return args.stream().map(a -> "'" + a.replace("'", "'\\''") + "'").toList();
  }
}
