package dev.cria.core.run;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StatusFilesTest {
  @TempDir Path run;

  static RankStatus status(
      int rank, RankState state, long step, double stepSeconds, long updatedAt) {
    return status(rank, state, step, stepSeconds, updatedAt, 5.0);
  }

  static RankStatus status(
      int rank,
      RankState state,
      long step,
      double stepSeconds,
      long updatedAt,
      double heartbeatSeconds) {
    return new RankStatus(
        "brown",
        rank,
        2,
        "host-" + rank,
        100 + rank,
        state,
        step,
        300,
        2.5,
        1e-3,
        4096,
        0.45,
        stepSeconds,
        0.01,
        800_000_000L,
        500_000_000L,
        0.9,
        1_000_000L,
        updatedAt,
        0,
        null,
        "bf16-mixed",
        "oneDNN 3.11.0 (brg_matmul:avx512_core_bf16, OpenMP, 2 threads)",
        null,
        heartbeatSeconds);
  }

  @Test
  void everyFieldReadsBackAndUnknownNumbersAreNull() throws IOException {
    RankStatus s =
        new RankStatus(
            "brown",
            1,
            2,
            "h",
            7,
            RankState.VALIDATING,
            0,
            300,
            Double.NaN,
            Double.NaN,
            Double.NaN,
            Double.NaN,
            Double.NaN,
            Double.NaN,
            0,
            0,
            Double.NaN,
            5,
            6,
            41,
            "boom",
            null,
            null,
            null,
            Double.NaN);
    StatusFiles.write(run, s);
    String text = Files.readString(run.resolve("1/status.json"));
    assertThat(text)
        .startsWith("{\"format\":\"cria.status/v1\"")
        .contains("\"state\":\"validating\"")
        .contains("\"loss\":null")
        .contains("\"collectives\":41")
        .contains("\"last_error\":\"boom\"")
        .contains("\"precision\":null")
        .contains("\"heartbeat_seconds\":null");
    assertThat(StatusFiles.read(run.resolve("1/status.json"))).isEqualTo(s);
    RankStatus full = status(0, RankState.TRAINING, 12, 0.5, 99, 2.5);
    StatusFiles.write(run, full);
    assertThat(Files.readString(StatusFiles.file(run, 0))).contains("\"heartbeat_seconds\":2.5");
    assertThat(StatusFiles.read(StatusFiles.file(run, 0))).isEqualTo(full);
    try (var files = Files.list(run.resolve("0"))) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactly("status.json");
    }
  }

  @Test
  void aFileWrittenBeforeThePrecisionFieldsExistedReadsThemAsUnknown() throws IOException {
    RankStatus s = status(0, RankState.TRAINING, 12, 0.5, 99);
    String json =
        StatusFiles.toJson(s)
            .replace(",\"precision\":\"bf16-mixed\"", "")
            .replaceAll(",\"matmul\":\"[^\"]*\"", "");
    assertThat(json).doesNotContain("precision").doesNotContain("matmul");
    RankStatus read = StatusFiles.parse(json, "old.json");
    assertThat(read.precision()).isNull();
    assertThat(read.matmul()).isNull();
    assertThat(read.computing("bf16-mixed", s.matmul())).isEqualTo(s);
  }

  @Test
  void aFileWrittenBeforeTheHeartbeatFieldExistedReadsItAsUnknown() throws IOException {
    String json = StatusFiles.toJson(status(0, RankState.TRAINING, 12, 0.5, 99));
    assertThat(json).contains(",\"heartbeat_seconds\":5.0");
    RankStatus read = StatusFiles.parse(json.replace(",\"heartbeat_seconds\":5.0", ""), "old.json");
    assertThat(read.heartbeatSeconds()).isNaN();
    assertThat(read).isEqualTo(status(0, RankState.TRAINING, 12, 0.5, 99, Double.NaN));
  }

  @Test
  void anotherFormatOrGarbageIsRefusedNamingTheFile() throws IOException {
    Files.createDirectories(run.resolve("0"));
    Files.writeString(run.resolve("0/status.json"), "{\"format\":\"cria.status/v9\"}");
    assertThatThrownBy(() -> StatusFiles.read(run.resolve("0/status.json")))
        .hasMessageContaining("0/status.json")
        .hasMessageContaining("cria.status/v9");
    Files.writeString(run.resolve("0/status.json"), "{not json");
    assertThatThrownBy(() -> StatusFiles.read(run.resolve("0/status.json")))
        .hasMessageContaining("not a status file");
  }

  @Test
  void readAllTakesEveryRankThatHasAStatusInRankOrder() throws IOException {
    StatusFiles.write(run, status(10, RankState.TRAINING, 1, 1, 1));
    StatusFiles.write(run, status(2, RankState.TRAINING, 1, 1, 1));
    Files.createDirectories(run.resolve("3")); // a rank that has not written yet
    Files.createDirectories(run.resolve("checkpoints"));
    assertThat(StatusFiles.readAll(run)).extracting(RankStatus::rank).containsExactly(2, 10);
    assertThatThrownBy(() -> StatusFiles.readAll(run.resolve("missing")))
        .hasMessageContaining("missing");
  }

  @Test
  void aDamagedStatusIsAnErrorOrLeftOutAndToldAndAFileIsNoRunDirectory() throws IOException {
    StatusFiles.write(run, status(0, RankState.TRAINING, 1, 1, 1));
    StatusFiles.write(run, status(2, RankState.TRAINING, 1, 1, 1));
    Path half = StatusFiles.file(run, 1);
    Files.createDirectories(half.getParent());
    Files.writeString(half, "{\"format\": \"cria-status");
    assertThatThrownBy(() -> StatusFiles.readAll(run))
        .isInstanceOf(IOException.class)
        .hasMessageStartingWith(half + ": not a status file: ");
    List<String> told = new ArrayList<>();
    assertThat(StatusFiles.readAll(run, told::add))
        .extracting(RankStatus::rank)
        .containsExactly(0, 2);
    assertThat(told).singleElement().asString().startsWith(half + ": not a status file: ");

    Path odd = StatusFiles.file(run, 2);
    Files.writeString(
        odd, Files.readString(odd).replace("\"state\":\"training\"", "\"state\":\"running\""));
    told.clear();
    assertThat(StatusFiles.readAll(run, told::add)).extracting(RankStatus::rank).containsExactly(0);
    assertThat(told.get(1))
        .isEqualTo(
            odd
                + ": state 'running' is none of starting, training, validating, saving, stopped,"
                + " failed, finished");

    Path file = Files.writeString(run.resolve("notes.txt"), "x");
    assertThatThrownBy(() -> StatusFiles.readAll(file, told::add))
        .isInstanceOf(java.nio.file.NotDirectoryException.class)
        .hasMessage(file + " is a file, not a run directory");
  }
}
