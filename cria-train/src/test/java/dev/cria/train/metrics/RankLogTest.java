package dev.cria.train.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A rank's log: timestamped lines, appended; a write that fails names the file. */
class RankLogTest {
  @TempDir Path run;

  @Test
  void linesAreTimestampedAndAppended() throws IOException {
    try (RankLog log = RankLog.open(run, 3)) {
      log.line("first");
    }
    try (RankLog log = RankLog.open(run, 3)) {
      log.line("second");
    }
    assertThat(Files.readAllLines(run.resolve("3/log")))
        .hasSize(2)
        .allMatch(l -> l.matches("\\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}] \\w+"));
  }

  @Test
  void aFullDiskSaysWhichFileItCouldNotWrite() throws IOException {
    Path full = Path.of("/dev/full"); // every write fails with ENOSPC
    assumeTrue(Files.isWritable(full), "skipped: no /dev/full on this system");
    Files.createDirectories(run.resolve("1"));
    Files.createSymbolicLink(run.resolve("1/log"), full);
    try (RankLog log = RankLog.open(run, 1)) {
      assertThatThrownBy(() -> log.line("step 7"))
          .isInstanceOf(IOException.class)
          .hasMessage(
              "cannot write the rank log " + run.resolve("1/log") + ": No space left on device");
    } catch (IOException closing) {
      // closing flushes nothing more
    }
  }
}
