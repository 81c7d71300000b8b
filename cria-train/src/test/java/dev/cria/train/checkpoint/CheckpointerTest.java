package dev.cria.train.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.core.checksum.Checksums;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.tensor.Floats;
import dev.cria.train.distributed.FakeGroup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Saving checkpoints, on one rank: what a save writes, and that it appears whole or not at all. */
class CheckpointerTest {
  static final LlamaConfig SHAPE = new LlamaConfig(16, 2, 2, 2, 32, 40, 1e-5f, 10000f, 8);

  @TempDir Path run;
  Backend cpu;
  Buffers buffers;
  ParameterLayout layout;
  Floats parameters;
  AdamW adam;
  Collective single;

  @BeforeEach
  void setUp() {
    cpu = Backends.open("cpu", 1);
    buffers = cpu.buffers();
    layout = new ParameterLayout(SHAPE);
    parameters = buffers.allocate(layout.size());
    for (long i = 0; i < layout.size(); i++) {
      parameters.set(i, (float) Math.sin(i));
    }
    adam = new AdamW(layout, AdamW.Settings.llama(), cpu);
    adam.restoreSteps(3);
    adam.firstMoment().set(5, 0.25f);
    single = Collective.single();
  }

  @AfterEach
  void tearDown() {
    adam.close();
    buffers.close();
    cpu.close();
  }

  private Checkpointer.Contents contents(long step) {
    return new Checkpointer.Contents(
        new TrainingState(step, 8 * step, 3, 1, 1234, 1e-3, "constant", 2.5),
        "run_dir: x\n",
        null,
        layout,
        parameters);
  }

  @Test
  void aSaveWritesEveryFileWithItsChecksumInTheManifestAndLeavesNothingPartial()
      throws IOException {
    try (Checkpointer c = new Checkpointer(run, single, 2)) {
      Checkpointer.Saved saved = c.save(contents(4), List.of(adam));
      assertThat(saved.dir()).isEqualTo(Checkpoints.stepDirectory(run, 4));
      assertThat(saved.pruned()).isEmpty();
    }
    Path dir = Checkpoints.stepDirectory(run, 4);
    Manifest manifest = Manifest.read(dir);
    assertThat(manifest.files().keySet())
        .contains("model.safetensors", "trainer_state.json", "config.yaml");
    for (Map.Entry<String, Manifest.FileEntry> e : manifest.files().entrySet()) {
      Path f = dir.resolve(e.getKey());
      assertThat(Files.size(f)).as(e.getKey()).isEqualTo(e.getValue().bytes());
      assertThat(Checksums.crc32c(f)).as(e.getKey()).isEqualTo(e.getValue().crc32c());
    }
    try (Stream<Path> s = Files.list(Checkpoints.directory(run))) {
      assertThat(s.map(p -> p.getFileName().toString())).containsExactly("step-4");
    }
    Checkpoint loaded = Checkpoint.open(dir).verify();
    assertThat(loaded.step()).isEqualTo(4);
    assertThat(loaded.state().consumedSamples()).isEqualTo(32);
    try (Buffers b = cpu.buffers();
        AdamW restored = new AdamW(layout, AdamW.Settings.llama(), cpu)) {
      Floats back = b.allocate(layout.size());
      loaded.loadModel(layout, back);
      loaded.loadOptimizer(List.of(restored));
      assertThat(back.toArray(0, (int) layout.size()))
          .containsExactly(parameters.toArray(0, (int) layout.size()));
      assertThat(restored.steps()).isEqualTo(3);
      assertThat(restored.firstMoment().get(5)).isEqualTo(0.25f);
    }
  }

  @Test
  void onlyTheNewestKeepLastCheckpointsStay() throws IOException {
    try (Checkpointer c = new Checkpointer(run, single, 2)) {
      c.save(contents(1), List.of(adam));
      c.save(contents(2), List.of(adam));
      Checkpointer.Saved third = c.save(contents(3), List.of(adam));
      assertThat(third.pruned()).containsExactly(Checkpoints.stepDirectory(run, 1));
    }
    assertThat(Checkpoints.list(run))
        .containsExactly(Checkpoints.stepDirectory(run, 2), Checkpoints.stepDirectory(run, 3));
  }

  @Test
  void aBackgroundSaveWritesTheParametersAsTheyWereWhenItStarted() throws IOException {
    float[] before = parameters.toArray(0, (int) layout.size());
    try (Checkpointer c = new Checkpointer(run, single, 5)) {
      c.allocateSnapshot(parameters, List.of(adam));
      c.saveInBackground(contents(2), List.of(adam));
      parameters.set(0, 99f); // training goes on: the snapshot was taken before
      Checkpointer.Saved saved = c.awaitBackground();
      assertThat(saved.dir()).isEqualTo(Checkpoints.stepDirectory(run, 2));
    }
    try (Buffers b = cpu.buffers()) {
      Floats back = b.allocate(layout.size());
      Checkpoint.open(Checkpoints.stepDirectory(run, 2)).verify().loadModel(layout, back);
      assertThat(back.toArray(0, (int) layout.size())).containsExactly(before);
    }
  }

  @Test
  void aFlippedByteIsCaughtByTheChecksums() throws IOException {
    try (Checkpointer c = new Checkpointer(run, single, 2)) {
      c.save(contents(7), List.of(adam));
    }
    Path model = Checkpoints.stepDirectory(run, 7).resolve("model.safetensors");
    byte[] bytes = Files.readAllBytes(model);
    bytes[bytes.length - 3] ^= 1;
    Files.write(model, bytes);
    assertThatThrownBy(() -> Checkpoint.open(Checkpoints.stepDirectory(run, 7)).verify())
        .hasMessageContaining("model.safetensors has checksum");
  }

  @Test
  void atLeastOneCheckpointIsKept() {
    assertThatThrownBy(() -> new Checkpointer(run, single, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("keep at least one checkpoint, got 0");
    try (Checkpointer c = new Checkpointer(run, single, 1)) {
      assertThat(c.busy()).isFalse();
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void theSameStepSavedAgainReplacesTheOldCopyWhole() throws IOException {
    try (Checkpointer c = new Checkpointer(run, single, 1)) {
      c.save(contents(4), List.of(adam));
      parameters.set(3, 7f);
      Checkpointer.Saved again = c.save(contents(4), List.of(adam));
      assertThat(again.pruned()).isEmpty();
      assertThat(again.bytes())
          .isEqualTo(Manifest.read(Checkpoints.stepDirectory(run, 4)).totalBytes());
      assertThat(again.seconds()).isGreaterThan(0);
    }
    try (Stream<Path> s = Files.list(Checkpoints.directory(run))) {
      assertThat(s.map(p -> p.getFileName().toString())).containsExactly("step-4");
    }
    try (Buffers b = cpu.buffers()) {
      Floats back = b.allocate(layout.size());
      Checkpoint.open(Checkpoints.stepDirectory(run, 4)).verify().loadModel(layout, back);
      assertThat(back.get(3)).isEqualTo(7f);
    }
  }

  @Test
  void aSaveThatFailsHalfwayLeavesNothingOfItAndKeepsTheEarlierCheckpoints() throws IOException {
    Path missing = run.resolve("no-such-tokenizer.json");
    try (Checkpointer c = new Checkpointer(run, single, 5)) {
      c.save(contents(1), List.of(adam));
      Checkpointer.Contents broken =
          new Checkpointer.Contents(contents(2).state(), "x: 1\n", missing, layout, parameters);
      assertThatThrownBy(() -> c.save(broken, List.of(adam)))
          .isInstanceOf(CheckpointException.class)
          .hasMessageStartingWith(
              "could not write the checkpoint of step 2 in " + Checkpoints.directory(run) + ": ")
          .hasMessageContaining(missing.toString())
          .hasMessageContaining(
              String.format(
                  java.util.Locale.ROOT,
                  " (it needs %.1f MB on this rank, ",
                  ((1 << 20) + adam.stateBytes() + layout.size() * 4) / 1e6))
          .hasMessageEndingWith(" MB were free); the earlier checkpoints are kept");
    }
    try (Stream<Path> s = Files.list(Checkpoints.directory(run))) {
      assertThat(s.map(p -> p.getFileName().toString())).containsExactly("step-1");
    }
  }

  @Test
  void aTokenizerDirectoryIsCopiedFileByFileAndASingleFileUnderItsModelName() throws IOException {
    Path tokDir = run.resolve("tok");
    Files.createDirectories(tokDir);
    Files.writeString(tokDir.resolve("tokenizer.json"), "{\"a\": 1}");
    Files.writeString(tokDir.resolve("special_tokens_map.json"), "{}");
    Files.writeString(tokDir.resolve("README"), "not copied");
    Path file = run.resolve("my-tokenizer.bin");
    Files.writeString(file, "{\"b\": 2}");
    try (Checkpointer c = new Checkpointer(run, single, 5)) {
      c.save(
          new Checkpointer.Contents(contents(1).state(), "x: 1\n", tokDir, layout, parameters),
          List.of(adam));
      c.save(
          new Checkpointer.Contents(contents(2).state(), "x: 1\n", file, layout, parameters),
          List.of(adam));
    }
    Manifest one = Manifest.read(Checkpoints.stepDirectory(run, 1));
    assertThat(one.files().keySet())
        .contains("tokenizer.json", "special_tokens_map.json")
        .doesNotContain("README");
    assertThat(Checkpoints.stepDirectory(run, 1).resolve("README")).doesNotExist();
    Manifest two = Manifest.read(Checkpoints.stepDirectory(run, 2));
    assertThat(two.files().keySet()).contains("tokenizer.json");
    assertThat(Files.readString(Checkpoints.stepDirectory(run, 2).resolve("tokenizer.json")))
        .isEqualTo("{\"b\": 2}");
  }

  /** Rank 0 of 2 whose peer reports, through every sum, that it lacks the room. */
  static final class PeerWithoutRoom implements Collective {
    @Override
    public int rank() {
      return 0;
    }

    @Override
    public int worldSize() {
      return 2;
    }

    @Override
    public String transport() {
      return "test";
    }

    @Override
    public void barrier() {}

    @Override
    public void broadcast(java.lang.foreign.MemorySegment data, long bytes, int root) {}

    @Override
    public void allReduceSum(java.lang.foreign.MemorySegment floats, long count) {
      floats.set(
          java.lang.foreign.ValueLayout.JAVA_FLOAT,
          0,
          floats.get(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0) + 1);
    }

    @Override
    public void reduceScatterSum(java.lang.foreign.MemorySegment floats, long count) {}

    @Override
    public void allGather(java.lang.foreign.MemorySegment floats, long count) {}

    @Override
    public void abort(String reason) {}

    @Override
    public void close() {}
  }

  @Test
  void whenAnyRankLacksTheRoomNoRankWritesAnything() throws IOException {
    try (Checkpointer c = new Checkpointer(run, new PeerWithoutRoom(), 2)) {
      assertThatThrownBy(() -> c.save(contents(3), List.of(adam)))
          .isInstanceOf(CheckpointException.class)
          .hasMessage(
              "cannot save the checkpoint of step 3 in "
                  + Checkpoints.directory(run)
                  + ": 1 other rank(s) lack the room, see their logs; nothing of it was written"
                  + " and the earlier checkpoints are kept. Free some space, or lower"
                  + " checkpoint.keep_last");
      assertThatThrownBy(() -> c.saveInBackground(contents(3), List.of(adam)))
          .hasMessageContaining("1 other rank(s) lack the room");
      assertThat(c.busy()).isFalse();
    }
    assertThat(Checkpoints.directory(run)).doesNotExist();
  }

  @Test
  void aBackgroundSaveIsBusyUntilDoneAndItsFailureIsReportedWhenAwaited() throws Exception {
    try (Checkpointer c = new Checkpointer(run, single, 5)) {
      assertThat(c.awaitBackground()).isNull();
      c.abandonBackground(java.time.Duration.ofSeconds(1)); // nothing to abandon
      long n = layout.size();
      assertThat(c.allocateSnapshot(parameters, List.of(adam))).isEqualTo(3 * n * 4);
      assertThat(c.allocateSnapshot(parameters, List.of(adam))).isEqualTo(3 * n * 4);
      c.saveInBackground(contents(1), List.of(adam));
      for (int i = 0; i < 6000 && c.busy(); i++) { // a liveness bound: 60 s
        Thread.sleep(10);
      }
      assertThat(c.busy()).isFalse();
      Checkpointer.Saved saved = c.awaitBackground();
      assertThat(saved.dir()).isEqualTo(Checkpoints.stepDirectory(run, 1));
      assertThat(saved.bytes())
          .isEqualTo(Manifest.read(Checkpoints.stepDirectory(run, 1)).totalBytes());
      assertThat(c.awaitBackground()).isNull();

      Checkpointer.Contents broken =
          new Checkpointer.Contents(
              contents(2).state(), "x: 1\n", run.resolve("missing.json"), layout, parameters);
      c.saveInBackground(broken, List.of(adam));
      assertThatThrownBy(c::awaitBackground)
          .isInstanceOf(IOException.class)
          .hasMessageStartingWith("a background checkpoint save failed: ")
          .hasMessageContaining("missing.json");
      assertThat(c.busy()).isFalse();
    }
  }

  @Test
  void aSecondBackgroundSaveWaitsForTheFirstAndAnAbandonedOneIsNotReported() throws IOException {
    try (Checkpointer c = new Checkpointer(run, single, 5)) {
      c.saveInBackground(contents(1), List.of(adam));
      c.saveInBackground(contents(2), List.of(adam)); // reports nothing of the first
      c.abandonBackground(java.time.Duration.ofMinutes(1));
      assertThat(c.busy()).isFalse();
      assertThat(c.awaitBackground()).isNull();
    }
    assertThat(Checkpoints.list(run))
        .containsExactly(Checkpoints.stepDirectory(run, 1), Checkpoints.stepDirectory(run, 2));
  }

  @Test
  void closingEndsTheWriterThread() throws Exception {
    Checkpointer c = new Checkpointer(run, single, 5);
    c.saveInBackground(contents(1), List.of(adam));
    assertThat(c.awaitBackground()).isNotNull();
    List<Thread> writers =
        Thread.getAllStackTraces().keySet().stream()
            .filter(t -> t.getName().equals("cria-checkpoint-writer") && t.isAlive())
            .toList();
    assertThat(writers).isNotEmpty();
    c.close();
    for (Thread t : writers) {
      t.join(10_000);
      assertThat(t.isAlive()).isFalse();
    }
  }

  @Test
  void twoRanksWriteOneShardEachThatTogetherResumeOneRank() throws Exception {
    long n = layout.size();
    for (boolean background : new boolean[] {false, true}) {
      long step = background ? 6 : 5;
      List<Checkpointer.Saved> saved =
          dev.cria.train.distributed.LoopbackRanks.run(
              2,
              java.time.Duration.ofSeconds(60),
              group -> {
                try (Backend b = Backends.open("cpu", 1);
                    AdamW part =
                        new AdamW(
                            layout,
                            AdamW.Settings.llama(),
                            b,
                            Collective.shardStart(n, 2, group.rank()),
                            Collective.shardStart(n, 2, group.rank() + 1));
                    Checkpointer c = new Checkpointer(run, group, 5)) {
                  for (long i = part.from(); i < part.to(); i++) {
                    part.firstMoment().set(i - part.from(), i / 1000f);
                    part.secondMoment().set(i - part.from(), i / 2000f);
                  }
                  part.restoreSteps(step);
                  if (!background) {
                    return c.save(contents(step), List.of(part));
                  }
                  c.saveInBackground(contents(step), List.of(part));
                  return c.awaitBackground();
                }
              });
      Path dir = Checkpoints.stepDirectory(run, step);
      Manifest m = Manifest.read(dir);
      String shard1 = "optimizer/rank-00001-of-00002.safetensors";
      assertThat(m.files().keySet()).contains("optimizer/rank-00000-of-00002.safetensors", shard1);
      try (Stream<Path> s = Files.list(dir.resolve("optimizer"))) {
        assertThat(s.map(p -> p.getFileName().toString()))
            .containsExactlyInAnyOrder(
                "rank-00000-of-00002.safetensors", "rank-00001-of-00002.safetensors");
      }
      assertThat(saved.get(0).dir()).isEqualTo(dir);
      assertThat(saved.get(1).dir()).isEqualTo(dir);
      assertThat(saved.get(0).bytes()).isEqualTo(m.totalBytes());
      assertThat(saved.get(1).bytes()).isEqualTo(Files.size(dir.resolve(shard1)));
      assertThat(saved.get(1).pruned()).isEmpty();
      try (var f = dev.cria.engine.io.SafetensorsFile.open(dir.resolve(shard1))) {
        assertThat(f.metadata())
            .containsEntry("rank", "1")
            .containsEntry("world_size", "2")
            .containsEntry("optimizer_steps", "3"); // the state says 3
      }
      Checkpoint loaded = Checkpoint.open(dir).verify();
      try (AdamW whole = new AdamW(layout, AdamW.Settings.llama(), cpu)) {
        loaded.loadOptimizer(List.of(whole));
        assertThat(whole.steps()).isEqualTo(3);
        for (long i = 0; i < n; i++) {
          if (whole.firstMoment().get(i) != i / 1000f || whole.secondMoment().get(i) != i / 2000f) {
            throw new AssertionError("moments of parameter " + i);
          }
        }
      }
    }
  }

  @Test
  void bf16SrMomentsAreSavedAsBf16AndResumeIntoBf16OrF32Moments() throws Exception {
    long n = layout.size();
    dev.cria.engine.optim.StochasticRounding sr = new dev.cria.engine.optim.StochasticRounding(7);
    try (AdamW stored = new AdamW(layout, AdamW.Settings.llama(), cpu, 0, n, sr)) {
      assertThat(stored.firstMoment().dtype()).isEqualTo(dev.cria.engine.tensor.DType.BF16);
      for (long i = 0; i < n; i++) {
        stored.firstMoment().set(i, i / 1000f); // rounded to the nearest bf16
        stored.secondMoment().set(i, -i / 3000f);
      }
      stored.restoreSteps(3);
      for (boolean background : new boolean[] {false, true}) {
        long step = background ? 8 : 7;
        try (Checkpointer c = new Checkpointer(run, single, 5)) {
          if (background) {
            c.saveInBackground(contents(step), List.of(stored));
            assertThat(c.awaitBackground()).isNotNull();
          } else {
            c.save(contents(step), List.of(stored));
          }
        }
        Path dir = Checkpoints.stepDirectory(run, step);
        try (var f =
            dev.cria.engine.io.SafetensorsFile.open(
                dir.resolve("optimizer/rank-00000-of-00001.safetensors"))) {
          assertThat(f.entries().values()).isNotEmpty().allMatch(e -> e.dtype().equals("BF16"));
        }
        Checkpoint loaded = Checkpoint.open(dir).verify();
        // into bf16 moments split at an odd parameter, and into f32 ones: the same values
        long cut = n / 2 + 1;
        try (AdamW a = new AdamW(layout, AdamW.Settings.llama(), cpu, 0, cut, sr);
            AdamW b = new AdamW(layout, AdamW.Settings.llama(), cpu, cut, n, sr);
            AdamW wide = new AdamW(layout, AdamW.Settings.llama(), cpu)) {
          loaded.loadOptimizer(List.of(a, b));
          loaded.loadOptimizer(List.of(wide));
          for (long i = 0; i < n; i++) {
            AdamW part = i < cut ? a : b;
            float first = stored.firstMoment().get(i);
            float second = stored.secondMoment().get(i);
            if (part.firstMoment().get(i - part.from()) != first
                || part.secondMoment().get(i - part.from()) != second
                || wide.firstMoment().get(i) != first
                || wide.secondMoment().get(i) != second) {
              throw new AssertionError("moments of parameter " + i + " (background " + background);
            }
          }
          assertThat(stored.firstMoment().get(5))
              .isEqualTo(dev.cria.engine.tensor.Bf16.roundTrip(5 / 1000f));
        }
      }
      // an F32 shard (as a tensor-parallel or ZeRO-3 save, or an fp32 run, writes) into bf16
      try (AdamW wide = new AdamW(layout, AdamW.Settings.llama(), cpu)) {
        for (long i = 0; i < n; i++) {
          wide.firstMoment().set(i, stored.firstMoment().get(i));
          wide.secondMoment().set(i, stored.secondMoment().get(i));
        }
        wide.restoreSteps(3);
        try (Checkpointer c = new Checkpointer(run, single, 5)) {
          c.save(contents(9), List.of(wide));
        }
        Path dir = Checkpoints.stepDirectory(run, 9);
        try (var f =
            dev.cria.engine.io.SafetensorsFile.open(
                dir.resolve("optimizer/rank-00000-of-00001.safetensors"))) {
          assertThat(f.entries().values()).isNotEmpty().allMatch(e -> e.dtype().equals("F32"));
        }
        try (AdamW into = new AdamW(layout, AdamW.Settings.llama(), cpu, 0, n, sr)) {
          Checkpoint.open(dir).verify().loadOptimizer(List.of(into));
          for (long i = 0; i < n; i++) {
            if (into.firstMoment().get(i) != stored.firstMoment().get(i)
                || into.secondMoment().get(i) != stored.secondMoment().get(i)) {
              throw new AssertionError("moments of parameter " + i + " from an F32 shard");
            }
          }
        }
      }
    }
  }

  @Test
  void aPartialDirectoryLeftByACrashIsClearedBeforeTheStepIsSavedAgain() throws IOException {
    Path stale = Checkpoints.directory(run).resolve(".step-4.partial/optimizer/rank-9.safetensors");
    Files.createDirectories(stale.getParent());
    Files.writeString(stale, "from the crashed attempt");
    try (Checkpointer c = new Checkpointer(run, single, 2)) {
      c.save(contents(4), List.of(adam));
    }
    Path dir = Checkpoints.stepDirectory(run, 4);
    assertThat(dir.resolve("optimizer/rank-9.safetensors")).doesNotExist();
    try (Stream<Path> s = Files.list(dir.resolve("optimizer"))) {
      assertThat(s.map(p -> p.getFileName().toString()))
          .containsExactly("rank-00000-of-00001.safetensors");
    }
  }

  @Test
  void rankZerosBackgroundSaveIsBusyUntilTheOtherRankHasWrittenItsShard() throws Exception {
    long n = layout.size();
    try (AdamW first = new AdamW(layout, AdamW.Settings.llama(), cpu, 0, n / 2);
        AdamW second = new AdamW(layout, AdamW.Settings.llama(), cpu, n / 2, n);
        Checkpointer zero = new Checkpointer(run, new FakeGroup(0, 2), 2);
        Checkpointer one = new Checkpointer(run, new FakeGroup(1, 2), 2)) {
      assertThat(one.allocateSnapshot(parameters, List.of(second))).isEqualTo(2 * (n - n / 2) * 4);
      zero.saveInBackground(contents(3), List.of(first));
      assertThat(zero.busy()).isTrue(); // waiting for rank 1's shard
      assertThat(Checkpoints.list(run)).isEmpty();
      one.saveInBackground(contents(3), List.of(second));
      Checkpointer.Saved ones = one.awaitBackground();
      assertThat(ones.dir()).isEqualTo(Checkpoints.stepDirectory(run, 3));
      assertThat(ones.pruned()).isEmpty();
      Checkpointer.Saved zeros = zero.awaitBackground();
      assertThat(zero.busy()).isFalse();
      Manifest m = Manifest.read(zeros.dir());
      assertThat(zeros.bytes()).isEqualTo(m.totalBytes());
      assertThat(ones.bytes())
          .isEqualTo(m.files().get("optimizer/rank-00001-of-00002.safetensors").bytes());
    }
  }

  @Test
  void anAbandonedSaveThatWaitsForALostRankIsInterruptedAndItsWriterEnds() throws Exception {
    Checkpointer zero = new Checkpointer(run, new FakeGroup(0, 2), 2);
    zero.saveInBackground(contents(3), List.of(adam));
    assertThat(zero.busy()).isTrue();
    List<Thread> writers =
        Thread.getAllStackTraces().keySet().stream()
            .filter(t -> t.getName().equals("cria-checkpoint-writer") && t.isAlive())
            .toList();
    zero.abandonBackground(java.time.Duration.ofMillis(50));
    assertThat(zero.busy()).isFalse();
    assertThat(zero.awaitBackground()).isNull();
    zero.close();
    for (Thread t : writers) {
      t.join(10_000);
      assertThat(t.isAlive()).as(t.getName()).isFalse();
    }
    assertThat(Checkpoints.list(run)).isEmpty();
  }
}
