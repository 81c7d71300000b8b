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
import dev.cria.engine.tensor.Floats;
import dev.cria.train.distributed.Collective;
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
}
