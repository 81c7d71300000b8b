package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cria.train.checkpoint.Checkpoint;
import dev.cria.train.checkpoint.CheckpointException;
import dev.cria.train.checkpoint.Checkpoints;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.node.ObjectNode;

/**
 * Checkpoints and resuming in one JVM: a run that crashes and is resumed logs the uninterrupted
 * run's losses bit for bit; a damaged checkpoint is passed over for the previous one; a run saved
 * by two ranks resumes on one and the other way round, to fp tolerance. (The SIGKILL of a real
 * process is in the CLI's tests.)
 */
class ResumeTest {
  @TempDir Path tmp;
  private Path prefix;

  @BeforeEach
  void data() throws IOException {
    prefix = TestRuns.dataset(tmp, 200, 199);
  }

  private ObjectNode tree(String run) {
    ObjectNode t = TestRuns.tree(prefix, tmp.resolve(run));
    TrainConfigFile.set(t, "trainer.max_steps", 12L);
    TrainConfigFile.set(t, "trainer.val_check_interval", 6L);
    TrainConfigFile.set(t, "checkpoint.save_interval", 4L);
    TrainConfigFile.set(t, "trainer.threads", 1);
    return t;
  }

  @ParameterizedTest(name = "async_save {0}")
  @ValueSource(booleans = {false, true})
  void aCrashedRunResumedFromItsCheckpointLogsTheUninterruptedLossesBitForBit(boolean async)
      throws IOException {
    TrainConfig straight = TestRuns.config(tree("straight"));
    SeenRun uninterrupted = SeenRun.train(straight, TrainStart.fresh(), s -> false);
    assertThat(uninterrupted.losses).hasSize(12);

    ObjectNode crashingTree = tree("crashing-" + async);
    TrainConfigFile.set(crashingTree, "checkpoint.async_save", async);
    TrainConfig crashing = TestRuns.config(crashingTree);
    SeenRun first = SeenRun.train(crashing, TrainStart.resumeIfPossible(), s -> s == 7);
    assertThat(first.losses).hasSize(7);
    Path crashed = tmp.resolve("crashing-" + async);
    assertThat(Checkpoints.list(crashed)).extracting(Checkpoints::stepOf).containsExactly(4L);
    if (async) {
      assertThat(first.info)
          .anyMatch(l ->
              l.startsWith("checkpoint of step 4: copied in ")
                  && l.endsWith("being written in the background"));
    }

    SeenRun resumed = SeenRun.train(crashing, TrainStart.resumeIfPossible(), s -> false);
    assertThat(resumed.info)
        .anyMatch(l ->
            l.startsWith("resumed from ")
                && l.contains("step-4: step 4, consumed" + " samples 16"));
    assertThat(resumed.losses.keySet()).containsExactly(5L, 6L, 7L, 8L, 9L, 10L, 11L, 12L);
    for (long s = 5; s <= 12; s++) {
      assertThat(resumed.losses.get(s)).as("step %d", s).isEqualTo(uninterrupted.losses.get(s));
    }
    assertThat(resumed.validations)
        .isEqualTo(
            Map.of(6L, uninterrupted.validations.get(6L), 12L, uninterrupted.validations.get(12L)));
    assertThat(resumed.parameters).isEqualTo(uninterrupted.parameters);
    // steps 8 and 12 saved; keep_last 2 removed step 4
    assertThat(Checkpoints.list(crashed)).extracting(Checkpoints::stepOf).containsExactly(8L, 12L);
    assertThat(
            Checkpoint.open(Checkpoints.stepDirectory(crashed, 8))
                .verify()
                .state()
                .consumedSamples())
        .isEqualTo(32);
    try (var files = Files.list(Checkpoints.directory(crashed))) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("step-8", "step-12");
    }

    // nothing left to do: resuming a finished run takes no step and saves nothing new
    SeenRun again = SeenRun.train(crashing, TrainStart.resumeIfPossible(), s -> false);
    assertThat(again.losses).isEmpty();
    assertThat(again.parameters).isEqualTo(uninterrupted.parameters);
  }

  @Test
  void aDamagedCheckpointIsReportedAndThePreviousOneResumed() throws IOException {
    ObjectNode t = tree("damaged");
    TrainConfigFile.set(t, "checkpoint.keep_last", 3);
    TrainConfig c = TestRuns.config(t);
    SeenRun original = SeenRun.train(c, TrainStart.fresh(), s -> false);
    Path run = tmp.resolve("damaged");
    assertThat(Checkpoints.list(run)).extracting(Checkpoints::stepOf).containsExactly(4L, 8L, 12L);
    Checkpoint step12 = Checkpoint.open(Checkpoints.stepDirectory(run, 12));
    assertThat(step12.manifest().files().keySet())
        .containsExactly(
            "model.safetensors",
            "trainer_state.json",
            "config.yaml",
            "optimizer/rank-00000-of-00001.safetensors");
    assertThat(step12.state().consumedSamples()).isEqualTo(48);
    assertThat(step12.state().optimizerSteps()).isEqualTo(12);

    // one flipped byte in the middle of step 12's model, and an unfinished save of step 16
    Path model = Checkpoints.stepDirectory(run, 12).resolve("model.safetensors");
    try (FileChannel ch =
        FileChannel.open(model, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.allocate(1);
      long at = ch.size() / 2;
      ch.read(b, at);
      b.put(0, (byte) ~b.get(0)).rewind();
      ch.write(b, at);
    }
    Files.createDirectories(Checkpoints.directory(run).resolve(".step-16.partial/optimizer"));
    assertThatThrownBy(() -> Checkpoint.open(Checkpoints.stepDirectory(run, 12)).verify())
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("model.safetensors has checksum");

    ObjectNode longer = tree("damaged");
    TrainConfigFile.set(longer, "checkpoint.keep_last", 3);
    SeenRun resumed =
        SeenRun.train(TestRuns.config(longer), TrainStart.resumeIfPossible(), s -> false);
    assertThat(resumed.info)
        .anyMatch(l ->
            l.startsWith("warning: checkpoint ")
                && l.contains("step-12 is not usable")
                && l.contains("model.safetensors has checksum")
                && l.contains("trying step-8"));
    assertThat(resumed.info).anyMatch(l -> l.startsWith("resumed from ") && l.contains("step-8"));
    assertThat(resumed.losses.keySet()).containsExactly(9L, 10L, 11L, 12L);
    for (long s = 9; s <= 12; s++) {
      assertThat(resumed.losses.get(s)).isEqualTo(original.losses.get(s));
    }
    assertThat(Checkpoints.directory(run).resolve(".step-16.partial")).doesNotExist();
    // the damaged step 12 is kept aside for a look, out of the way of resuming and pruning
    assertThat(resumed.info).anyMatch(l -> l.contains("set aside step-12"));
    assertThat(Checkpoints.directory(run).resolve("abandoned-step-12/model.safetensors")).exists();
    // step 12 saved again, whole this time
    assertThat(Checkpoint.open(Checkpoints.stepDirectory(run, 12)).verify().step()).isEqualTo(12);
  }

  @Test
  void aRunWhoseEveryCheckpointIsDamagedIsRefusedUnlessAskedToStartOver() throws IOException {
    ObjectNode t = tree("all-damaged");
    TrainConfigFile.set(t, "checkpoint.keep_last", 2);
    TrainConfig c = TestRuns.config(t);
    SeenRun original = SeenRun.train(c, TrainStart.fresh(), s -> false);
    Path run = tmp.resolve("all-damaged");
    for (long step : List.of(8L, 12L)) {
      Path model = Checkpoints.stepDirectory(run, step).resolve("model.safetensors");
      byte[] bytes = Files.readAllBytes(model);
      bytes[bytes.length / 2] ^= 1;
      Files.write(model, bytes);
    }
    assertThatThrownBy(() -> SeenRun.train(c, TrainStart.resumeIfPossible(), s -> false))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("holds checkpoints but none is usable")
        .hasMessageContaining("step-12: ")
        .hasMessageContaining("step-8: ")
        .hasMessageContaining("--start-over");
    // nothing was changed: both still there under their names
    assertThat(Checkpoints.list(run)).extracting(Checkpoints::stepOf).containsExactly(8L, 12L);

    SeenRun again = SeenRun.train(c, new TrainStart(true, null, null, null, true), s -> false);
    assertThat(again.losses.get(1L))
        .isEqualTo(original.losses.get(1L)); // from step 0, the same way
    assertThat(Checkpoints.directory(run).resolve("abandoned-step-12/model.safetensors")).exists();
    assertThat(Checkpoint.open(Checkpoints.stepDirectory(run, 12)).verify().step()).isEqualTo(12);
  }

  @Test
  void aFullDiskStopsTheSaveSayingWhereAndHowMuchAndTheEarlierCheckpointResumesExactly()
      throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(
        "root".equals(System.getProperty("user.name")),
        "not root: the disk-full test needs to mount a small tmpfs");
    ObjectNode ref = tree("full-reference");
    TrainConfigFile.set(ref, "checkpoint.keep_last", 10);
    SeenRun original = SeenRun.train(TestRuns.config(ref), TrainStart.fresh(), s -> false);
    long checkpoint;
    try (var files = Files.walk(Checkpoints.stepDirectory(tmp.resolve("full-reference"), 4))) {
      checkpoint = files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
    }
    Path disk = Files.createDirectories(tmp.resolve("small-disk"));
    long size = (long) (2.4 * checkpoint) + (256 << 10);
    org.junit.jupiter.api.Assumptions.assumeTrue(
        new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", disk.toString())
                .start()
                .waitFor()
            == 0,
        "cannot mount a tmpfs here");
    try {
      ObjectNode t = TestRuns.tree(prefix, disk.resolve("run"));
      TrainConfigFile.set(t, "trainer.max_steps", 12L);
      TrainConfigFile.set(t, "trainer.val_check_interval", 6L);
      TrainConfigFile.set(t, "checkpoint.save_interval", 4L);
      TrainConfigFile.set(t, "checkpoint.keep_last", 10);
      TrainConfigFile.set(t, "trainer.threads", 1);
      TrainConfigFile.set(t, "data.index_cache_dir", tmp.resolve("cache").toString());
      TrainConfig c = TestRuns.config(t);
      Path run = disk.resolve("run");
      CheckpointException full =
          org.junit.jupiter.api.Assertions.assertThrows(
              CheckpointException.class, () -> SeenRun.train(c, TrainStart.fresh(), s -> false));
      java.util.regex.Matcher m =
          java.util.regex.Pattern.compile(
                  "cannot save the checkpoint of step (\\d+) in (\\S+): it needs ([\\d.]+) MB on this"
                      + " rank and ([\\d.]+) MB are free")
              .matcher(full.getMessage());
      assertThat(m.find()).as(full.getMessage()).isTrue();
      long failed = Long.parseLong(m.group(1));
      assertThat(m.group(2)).isEqualTo(Checkpoints.directory(run).toString());
      assertThat(Double.parseDouble(m.group(3))).isGreaterThan(Double.parseDouble(m.group(4)));
      assertThat(full.getMessage()).contains("earlier checkpoints are kept");
      assertThat(Files.readString(run.resolve("0/log")))
          .contains("failed: cannot save the checkpoint of step " + failed);
      assertThat(Checkpoints.directory(run).resolve(".step-" + failed + ".partial")).doesNotExist();
      List<Path> kept = Checkpoints.list(run);
      assertThat(kept).isNotEmpty();
      for (Path k : kept) {
        Checkpoint.open(k).verify();
      }
      long earlier = Checkpoints.stepOf(kept.getLast());
      assertThat(earlier).isEqualTo(failed - 4);

      // room again: the same run resumes from the earlier checkpoint, bit for bit
      assertThat(
              new ProcessBuilder("mount", "-o", "remount,size=" + 8 * size, disk.toString())
                  .start()
                  .waitFor())
          .isZero();
      SeenRun resumed = SeenRun.train(c, TrainStart.resumeIfPossible(), s -> false);
      assertThat(resumed.losses.keySet().iterator().next()).isEqualTo(earlier + 1);
      for (long s = earlier + 1; s <= 12; s++) {
        assertThat(resumed.losses.get(s)).as("step %d", s).isEqualTo(original.losses.get(s));
      }
    } finally {
      new ProcessBuilder("umount", "-l", disk.toString()).start().waitFor();
    }
  }

  @Test
  void theWallClockIntervalSavesAndKeepLastPrunes() throws IOException {
    ObjectNode t = tree("clock");
    TrainConfigFile.set(t, "trainer.max_steps", 6L);
    TrainConfigFile.set(t, "trainer.val_check_interval", 0L);
    TrainConfigFile.set(t, "checkpoint.save_interval", 0L);
    TrainConfigFile.set(t, "checkpoint.save_interval_minutes", 1e-6); // due before every step
    SeenRun seen = SeenRun.train(TestRuns.config(t), TrainStart.fresh(), s -> false);
    // steps 1 to 5 by the clock (before steps 2 to 6), step 6 at the end
    assertThat(seen.info.stream().filter(l -> l.startsWith("checkpoint saved: "))).hasSize(6);
    assertThat(Checkpoints.list(tmp.resolve("clock")))
        .extracting(Checkpoints::stepOf)
        .containsExactly(5L, 6L);
    assertThat(Files.readString(tmp.resolve("clock/0/log")))
        .contains(
            "removed old checkpoint "
                + Checkpoints.stepDirectory(tmp.resolve("clock"), 4)
                + " (keep_last 2)");
  }

  @Test
  void resumingFromACheckpointThatIsNotThereIsAClearError() throws IOException {
    TrainConfig c = TestRuns.config(tree("nowhere"));
    Path missing = tmp.resolve("no-such-run");
    assertThatThrownBy(
            () -> SeenRun.train(c, new TrainStart(true, missing, null, null), s -> false))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining(missing.toString());
  }

  /**
   * Ranks as threads of this JVM, each stopping when {@code stopAfter} says so; rank 0's view
   * returned.
   */
  private static SeenRun trainGroup(
      TrainConfig c, int world, TrainStart start, LongPredicate stopAfter) throws Exception {
    RunDirectory run = RunDirectory.create(c, false, true);
    return TestRuns.inRanks(
            world,
            group -> {
              try (TrainingSetup setup = TrainingSetup.prepare(c, world, line -> {})) {
                SeenRun seen = new SeenRun(s -> false);
                new Trainer(setup, run, seen, () -> stopAfter.test(seen.lastStep), group)
                    .run(start);
                return seen;
              }
            })
        .getFirst();
  }

  @Test
  void aRunSavedByTwoRanksResumesOnOneAndTheOtherWayRound() throws Exception {
    ObjectNode base = tree("single");
    TrainConfigFile.set(base, "trainer.global_batch_size", 8);
    TrainConfigFile.set(base, "trainer.max_steps", 8L);
    TrainConfigFile.set(base, "trainer.limit_val_batches", 0);
    TrainConfigFile.set(base, "checkpoint.save_interval", 0L);
    SeenRun single = trainGroup(TestRuns.config(base), 1, TrainStart.fresh(), s -> false);

    for (int[] worlds : new int[][] {{2, 1}, {1, 2}}) {
      ObjectNode t = base.deepCopy();
      TrainConfigFile.set(
          t, "run_dir", tmp.resolve("from-" + worlds[0] + "-to-" + worlds[1]).toString());
      // step 4 is saved in the background, by every rank at once; the stop request then finds it
      // saved
      TrainConfigFile.set(t, "checkpoint.save_interval", 4L);
      TrainConfigFile.set(t, "checkpoint.async_save", true);
      TrainConfig c = TestRuns.config(t);
      SeenRun before =
          trainGroup(
              c, worlds[0], TrainStart.resumeIfPossible(), s -> s == 4); // stop request: saves
      assertThat(before.losses.keySet()).containsExactly(1L, 2L, 3L, 4L);
      assertThat(
              Checkpoint.open(Checkpoints.stepDirectory(Path.of(c.runDir()), 4)).manifest().files())
          .hasSize(3 + worlds[0]);
      SeenRun after = trainGroup(c, worlds[1], TrainStart.resumeIfPossible(), s -> false);
      assertThat(after.info).anyMatch(l -> l.contains("saved by " + worlds[0] + " rank(s)"));
      assertThat(after.losses.keySet()).containsExactly(5L, 6L, 7L, 8L);
      for (long s = 5; s <= 8; s++) {
        assertThat(after.losses.get(s))
            .as("%d -> %d ranks, step %d", worlds[0], worlds[1], s)
            .isCloseTo(single.losses.get(s), within(2e-4));
      }
    }
  }
}
