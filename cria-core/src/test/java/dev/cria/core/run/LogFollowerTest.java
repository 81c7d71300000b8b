package dev.cria.core.run;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LogFollowerTest {
  @TempDir Path dir;

  @Test
  void followsAFileThatAppearsLaterIsTruncatedAndIsReplaced() throws IOException {
    Path log = dir.resolve("0/log");
    LogFollower f = LogFollower.fromEnd(log);
    assertThat(f.poll()).isEmpty();
    Files.createDirectories(log.getParent());
    Files.writeString(log, "one\ntwo\nthr");
    assertThat(f.poll()).containsExactly("one", "two");
    append(log, "ee\n");
    assertThat(f.poll()).containsExactly("three");
    Files.writeString(log, "new\n"); // truncated to something shorter
    assertThat(f.poll()).containsExactly("new");
    Path other = dir.resolve("other");
    Files.writeString(other, "replacement line that is longer than the old file\n");
    Files.move(other, log, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertThat(f.poll()).containsExactly("replacement line that is longer than the old file");
    Files.delete(log);
    assertThat(f.poll()).isEmpty();
  }

  @Test
  void fromEndSkipsWhatWasThereAndLastLinesTakesTheTail() throws IOException {
    Path log = dir.resolve("log");
    Files.writeString(log, "a\nb\nc\n");
    LogFollower f = LogFollower.fromEnd(log);
    append(log, "d\n");
    assertThat(f.poll()).containsExactly("d");
    assertThat(LogFollower.lastLines(log, 2)).containsExactly("c", "d");
    assertThat(LogFollower.lastLines(dir.resolve("none"), 2)).isEmpty();
    append(log, "caf\u00e9\n");
    Files.write(log, new byte[] {'x', (byte) 0xe9, '\n'}, StandardOpenOption.APPEND);
    assertThat(LogFollower.lastLines(log, 2)).containsExactly("caf\u00e9", "x\uFFFD");
  }

  @Test
  void theRanksLogsMergeInTimeOrderAndNewRanksAreFound() throws IOException {
    Files.createDirectories(dir.resolve("0"));
    Files.createDirectories(dir.resolve("1"));
    Files.writeString(
        dir.resolve("0/log"), "[2026-01-01 10:00:00.100] a0\n[2026-01-01 10:00:00.300] b0\n");
    Files.writeString(dir.resolve("1/log"), "[2026-01-01 10:00:00.200] a1\n");
    RunLogs logs = RunLogs.ofAllRanks(dir, false);
    assertThat(logs.tail(10))
        .extracting(l -> l.rank() + ":" + l.text().substring(26))
        .containsExactly("0:a0", "1:a1", "0:b0");
    Files.createDirectories(dir.resolve("2"));
    Files.writeString(dir.resolve("2/log"), "[2026-01-01 10:00:01.000] c2\n");
    append(dir.resolve("0/log"), "[2026-01-01 10:00:00.900] c0\n");
    List<RunLogs.Line> more = logs.poll();
    assertThat(more).extracting(RunLogs.Line::rank).containsExactly(0, 2);
    assertThat(logs.standing(System.currentTimeMillis(), 30).ended())
        .isFalse(); // no status says so
  }

  private static void append(Path f, String text) throws IOException {
    Files.writeString(f, text, StandardOpenOption.APPEND);
  }
}
