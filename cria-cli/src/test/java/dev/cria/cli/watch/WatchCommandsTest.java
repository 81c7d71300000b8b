package dev.cria.cli.watch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.core.run.RankState;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** cria logs and cria top on run directories written by hand, as a training run writes them. */
class WatchCommandsTest {
  @TempDir Path run;

  private static RankStatus status(int rank, RankState state, double stepSeconds, long ageMillis) {
    return status(rank, state, stepSeconds, ageMillis, "host" + rank, 10 + rank);
  }

  private static RankStatus status(
      int rank, RankState state, double stepSeconds, long ageMillis, String host, long pid) {
    long now = System.currentTimeMillis();
    return new RankStatus(
        "brown",
        rank,
        3,
        host,
        pid,
        state,
        120,
        300,
        6.5,
        8e-4,
        3794,
        0.443,
        stepSeconds,
        0.01,
        812_000_000L,
        560_000_000L,
        0.96,
        now - 60_000,
        now - ageMillis,
        0,
        null,
        "bf16-mixed",
        "oneDNN 3.11.0 (brg_matmul:avx512_core_amx, OpenMP, 2 threads)",
        null,
        5.0);
  }

  private void log(int rank, String... lines) throws IOException {
    Files.createDirectories(run.resolve(Integer.toString(rank)));
    Files.writeString(
        run.resolve(rank + "/log"),
        String.join("\n", lines) + "\n",
        StandardOpenOption.CREATE,
        StandardOpenOption.APPEND);
  }

  @Test
  void logsShowsTheLastLinesOfARankOrEveryRankInTimeOrder() throws IOException {
    log(
        0,
        "[2026-01-01 10:00:00.100] zero a",
        "[2026-01-01 10:00:00.300] zero b",
        "[2026-01-01 10:00:00.500] zero c");
    log(1, "[2026-01-01 10:00:00.200] one a", "[2026-01-01 10:00:00.400] one b");
    CliRun rank0 = CliRun.of("logs", run.toString(), "-n", "2");
    assertThat(rank0.exitCode()).isZero();
    assertThat(rank0.out().lines())
        .containsExactly("[2026-01-01 10:00:00.300] zero b", "[2026-01-01 10:00:00.500] zero c");
    CliRun all = CliRun.of("logs", run.toString(), "--all", "-n", "3");
    assertThat(all.out().lines())
        .containsExactly(
            "[rank 0] [2026-01-01 10:00:00.300] zero b",
            "[rank 1] [2026-01-01 10:00:00.400] one b",
            "[rank 0] [2026-01-01 10:00:00.500] zero c");
    CliRun missing = CliRun.of("logs", run.resolve("nothing").toString());
    assertThat(missing.exitCode()).isEqualTo(1);
    assertThat(missing.err()).contains("nothing: no such run directory");
    CliRun noRank = CliRun.of("logs", run.toString(), "--rank", "5");
    assertThat(noRank.err()).contains("no log at").contains("5/log");
  }

  @Test
  void followingPrintsWhatIsAddedAndEndsWhenTheRunHasEnded() throws Exception {
    log(0, "[2026-01-01 10:00:00.100] started");
    StatusFiles.write(run, status(0, RankState.TRAINING, 0.5, 0));
    CompletableFuture<CliRun> following =
        CompletableFuture.supplyAsync(
            () -> CliRun.of("logs", run.toString(), "-f", "--poll", "0.05"));
    Thread.sleep(300);
    log(0, "[2026-01-01 10:00:01.000] step 1/2");
    Thread.sleep(300);
    assertThat(following).isNotDone();
    log(0, "[2026-01-01 10:00:02.000] finished 2 steps");
    StatusFiles.write(run, status(0, RankState.FINISHED, 0.5, 0));
    CliRun done = following.get(20, TimeUnit.SECONDS);
    assertThat(done.exitCode()).isZero();
    assertThat(done.out().lines())
        .containsExactly(
            "[2026-01-01 10:00:00.100] started",
            "[2026-01-01 10:00:01.000] step 1/2",
            "[2026-01-01 10:00:02.000] finished 2 steps");
  }

  @Test
  void aRankTheRunDoesNotHaveIsRefusedEvenWhenFollowing() throws IOException {
    log(0, "[2026-01-01 10:00:00.100] started");
    StatusFiles.write(run, status(0, RankState.TRAINING, 0.5, 0));
    for (boolean follow : new boolean[] {false, true}) {
      CliRun r =
          follow
              ? CliRun.of("logs", run.toString(), "--rank", "5", "-f")
              : CliRun.of("logs", run.toString(), "--rank", "5");
      assertThat(r.exitCode()).isEqualTo(1);
      assertThat(r.err()).contains("no rank 5: " + run + " is a run of 3 rank(s), 0 to 2");
    }
  }

  @Test
  void followingARankKilledOnThisHostEndsSayingSo() throws Exception {
    Process gone = new ProcessBuilder("true").start();
    assertThat(gone.waitFor(30, TimeUnit.SECONDS)).isTrue();
    log(0, "[2026-01-01 10:00:00.100] step 120/300");
    StatusFiles.write(
        run, status(0, RankState.TRAINING, 0.5, 0, RankStatus.thisHost(), gone.pid()));
    CliRun r =
        CompletableFuture.supplyAsync(
                () -> CliRun.of("logs", run.toString(), "-f", "--poll", "0.05"))
            .get(20, TimeUnit.SECONDS);
    assertThat(r.exitCode()).isZero();
    assertThat(r.out().lines()).containsExactly("[2026-01-01 10:00:00.100] step 120/300");
    assertThat(r.err())
        .contains(
            "rank 0 (pid "
                + gone.pid()
                + " on this host) is gone without ending its run, after step 120"
                + " (killed, or out of memory?)");
  }

  @Test
  void aKilledRankIsToldOfOnceWhileTheOthersAreFollowed() throws Exception {
    Process gone = new ProcessBuilder("true").start();
    assertThat(gone.waitFor(30, TimeUnit.SECONDS)).isTrue();
    log(0, "[2026-01-01 10:00:00.100] step 120/300");
    log(1, "[2026-01-01 10:00:00.200] step 120/300");
    StatusFiles.write(
        run, status(0, RankState.TRAINING, 0.5, 0, RankStatus.thisHost(), gone.pid()));
    StatusFiles.write(run, status(1, RankState.TRAINING, 0.5, 0));
    CompletableFuture<CliRun> following =
        CompletableFuture.supplyAsync(
            () -> CliRun.of("logs", run.toString(), "--all", "-f", "--poll", "0.05"));
    Thread.sleep(500); // ten polls or so
    assertThat(following).isNotDone();
    StatusFiles.write(run, status(1, RankState.FINISHED, 0.5, 0));
    CliRun r = following.get(20, TimeUnit.SECONDS);
    assertThat(r.exitCode()).isZero();
    assertThat(r.err().lines().filter(l -> l.contains("is gone without ending its run")))
        .hasSize(1);
  }

  @Test
  void aQuietRankOfAnotherHostIsToldOfOnceAndFollowedOn() throws Exception {
    log(0, "[2026-01-01 10:00:00.100] step 120/300");
    StatusFiles.write(run, status(0, RankState.TRAINING, 0.5, 200_000));
    CompletableFuture<CliRun> following =
        CompletableFuture.supplyAsync(
            () -> CliRun.of("logs", run.toString(), "-f", "--poll", "0.05"));
    Thread.sleep(500);
    assertThat(following).isNotDone();
    StatusFiles.write(run, status(0, RankState.FINISHED, 0.5, 0));
    CliRun r = following.get(20, TimeUnit.SECONDS);
    assertThat(r.exitCode()).isZero();
    assertThat(r.err().lines().filter(l -> l.contains("has not written its status")))
        .singleElement()
        .asString()
        .contains("rank 0 (pid 10 on host0) has not written its status for 2")
        .contains("still following");
  }

  @Test
  void topShowsEveryRankAndMarksTheStragglerAndTheSilentRank() throws IOException {
    StatusFiles.write(run, status(0, RankState.TRAINING, 0.50, 100));
    StatusFiles.write(run, status(1, RankState.TRAINING, 0.80, 200)); // 60% slower than the median
    StatusFiles.write(run, status(2, RankState.TRAINING, 0.55, 45_000)); // no heartbeat for 45 s
    CliRun once = CliRun.of("top", run.toString(), "--once");
    assertThat(once.exitCode()).isZero();
    List<String> lines = once.out().lines().toList();
    assertThat(lines.get(1)).startsWith("step 120/300  ETA ");
    assertThat(lines.get(2))
        .startsWith("loss 6.5000")
        .contains("tokens/s 3794")
        .contains("MFU 44.3%");
    assertThat(lines.get(3))
        .isEqualTo(
            "precision bf16-mixed   matmul oneDNN 3.11.0 (brg_matmul:avx512_core_amx, OpenMP, 2"
                + " threads)");
    assertThat(lines).anyMatch(l -> l.matches("\\s+0 host0\\s+training\\s+120\\s+0\\.50s .*\\s+"));
    assertThat(lines).anyMatch(l -> l.matches("\\s+1 host1 .* STRAGGLER"));
    assertThat(lines).anyMatch(l -> l.matches("\\s+2 host2 .*45\\.\\ds ago\\s+SILENT"));
    CliRun json = CliRun.of("top", run.toString(), "--json");
    assertThat(json.out())
        .contains("\"step\":120")
        .contains("\"silent\":true")
        .contains("\"straggler\":true");
    CliRun missing = CliRun.of("top", run.resolve("gone").toString(), "--once");
    assertThat(missing.err()).contains("gone: no such run directory");
    Path file = Files.writeString(run.resolve("a-file"), "x");
    CliRun notRun = CliRun.of("top", file.toString(), "--once");
    assertThat(notRun.exitCode()).isEqualTo(1);
    assertThat(notRun.err()).contains(file + " is a file, not a run directory");

    // one rank's damaged status does not hide the others
    Files.writeString(StatusFiles.file(run, 1), "{\"format\": \"cria-st");
    CliRun damaged = CliRun.of("top", run.toString(), "--once");
    assertThat(damaged.exitCode()).isZero();
    assertThat(damaged.out().lines().toList())
        .anyMatch(l -> l.matches("\\s+0 host0\\s+training.*"))
        .anyMatch(l -> l.matches("\\s+2 host2 .*"))
        .noneMatch(l -> l.matches("\\s+1 host1 .*"))
        .anyMatch(l ->
            l.startsWith("unreadable: " + StatusFiles.file(run, 1) + ": not a status file: ")
                && l.endsWith("; that rank is left out"));
    CliRun damagedJson = CliRun.of("top", run.toString(), "--json");
    assertThat(damagedJson.exitCode()).isZero();
    assertThat(damagedJson.err()).contains("warning: " + StatusFiles.file(run, 1));
  }

  @Test
  void topShowsEachRanksReplicaAndSliceUnderTensorParallelism() throws IOException {
    for (int rank = 0; rank < 4; rank++) {
      RankStatus s = status(rank, RankState.TRAINING, 0.5, 100);
      StatusFiles.write(
          run, rank == 3 ? s : s.placed(new RankStatus.Parallel(rank / 2, 2, rank % 2, 2)));
    }
    CliRun once = CliRun.of("top", run.toString(), "--once");
    assertThat(once.exitCode()).isZero();
    List<String> lines = once.out().lines().toList();
    assertThat(lines.get(4))
        .isEqualTo("layout dp 2 x tp 2   (DP.TP: a rank's replica and its slice of the model)");
    assertThat(lines).anyMatch(l -> l.matches("RANK DP\\.TP\\s+HOST .*"));
    assertThat(lines).anyMatch(l -> l.matches("\\s+2 1\\.0\\s+host2 .*"));
    assertThat(lines).anyMatch(l -> l.matches("\\s+3 -\\s+host3 .*")); // not placed yet
    // and status.json says it, for other readers
    assertThat(Files.readString(run.resolve("1/status.json")))
        .contains("\"data_rank\":0", "\"data_parallel\":2", "\"tensor_rank\":1")
        .contains("\"tensor_parallel\":2");
    assertThat(StatusFiles.read(run.resolve("2/status.json")).parallel())
        .isEqualTo(new RankStatus.Parallel(1, 2, 0, 2));
  }

  @Test
  void topWithoutATerminalPrintsFramesUntilTheRunHasEnded() throws IOException {
    StatusFiles.write(run, status(0, RankState.FINISHED, 0.5, 0));
    CliRun plain = CliRun.of("top", run.toString(), "--interval", "0.1");
    assertThat(plain.exitCode()).isZero();
    assertThat(plain.out()).contains("(the run has ended)");
  }
}
