package dev.cria.board;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The board in a real browser: headless Chromium (Debian's, which .ci/run installs) logs in with
 * the user and password, opens the runs, and the reduced_train_loss chart holds the values of the
 * run's event files; a screenshot is kept as target/board-screenshot.png. Skips, saying so, without
 * Chromium.
 */
class BoardInBrowserTest {
  static final Path CHROMIUM = Path.of("/usr/bin/chromium");

  @TempDir Path logdir;
  @TempDir Path profile;

  @Test
  void theLossChartHoldsTheValuesOfTheEventFile() throws Exception {
    assumeTrue(Files.isExecutable(CHROMIUM), "chromium is not installed: apt-get install chromium");
    BoardTest.writeRuns(logdir);
    try (Board board =
        Board.start(
            new Board.Options(logdir, "127.0.0.1", 0, "admin", "pw-for-the-browser", null, null))) {
      String url = board.url().toString().replace("://", "://admin:pw-for-the-browser@");
      String dom = chromium("--dump-dom", url);
      Matcher m =
          Pattern.compile(
                  "data-tag=\"reduced_train_loss\" data-run=\"brown\" data-points=\"(\\d+)\""
                      + " data-values=\"\\[([^\\]]*)\\]\"")
              .matcher(dom);
      assertThat(m.find()).as("the loss chart in the page:\n" + dom).isTrue();
      assertThat(m.group(1)).isEqualTo("12");
      double[] shown =
          Arrays.stream(m.group(2).split(",")).mapToDouble(Double::parseDouble).toArray();
      // steps 1..5 from the first event file, 6..12 from the resumed one
      assertThat(shown).containsExactly(9, 8, 7, 6, 5, 106, 107, 108, 109, 110, 111, 112);
      assertThat(dom).contains("step 12/300 rank 1"); // the log tail of the first run
      Path shot = Path.of("target", "board-screenshot.png").toAbsolutePath();
      Files.createDirectories(shot.getParent());
      chromium("--window-size=1400,1000", "--screenshot=" + shot, url);
      assertThat(shot).isNotEmptyFile();
    }
  }

  private String chromium(String... args) throws IOException, InterruptedException {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                CHROMIUM.toString(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--user-data-dir=" + profile,
                "--virtual-time-budget=8000"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    byte[] out = p.getInputStream().readAllBytes();
    assertThat(p.waitFor(90, TimeUnit.SECONDS)).isTrue();
    return new String(out, StandardCharsets.UTF_8);
  }
}
