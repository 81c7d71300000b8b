package dev.cria.train.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.core.checksum.Checksums;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint directory read back: its optimizer shards, however the ranks that saved them split
 * the parameters, into however the resuming ranks split them; the tokenizer and config it holds.
 */
class CheckpointTest {
  static final LlamaConfig SHAPE = new LlamaConfig(16, 2, 2, 2, 32, 40, 1e-5f, 10000f, 8);

  @TempDir Path dir;
  Backend cpu;
  ParameterLayout layout = new ParameterLayout(SHAPE);
  Map<String, Manifest.FileEntry> files = new LinkedHashMap<>();
  List<AdamW> optimizers = new ArrayList<>();

  @BeforeEach
  void setUp() throws IOException {
    cpu = Backends.open("cpu", 1);
    new TrainingState(5, 20, 7, 2, 1, 1e-3, "s", 1.0).write(dir);
    listed(TrainingState.FILE);
  }

  @AfterEach
  void tearDown() {
    optimizers.forEach(AdamW::close);
    cpu.close();
  }

  private void listed(String name) throws IOException {
    Path f = dir.resolve(name);
    files.put(name, new Manifest.FileEntry(Files.size(f), Checksums.crc32c(f)));
  }

  /**
   * An optimizer shard {@code name} holding, per {@code starts[k]}, moments of {@code lengths[k]}
   * parameters from there: exp_avg = index, exp_avg_sq = 2 x index.
   */
  private void shard(String name, boolean listed, String[] starts, long... lengths)
      throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
      for (int k = 0; k < starts.length; k++) {
        long from = starts[k].matches("\\d+") ? Long.parseLong(starts[k]) : 0;
        MemorySegment first = arena.allocate(lengths[k] * 4);
        MemorySegment second = arena.allocate(lengths[k] * 4);
        for (long i = 0; i < lengths[k]; i++) {
          first.setAtIndex(ValueLayout.JAVA_FLOAT, i, from + i);
          second.setAtIndex(ValueLayout.JAVA_FLOAT, i, 2 * (from + i));
        }
        tensors.add(
            new SafetensorsWriter.Tensor(
                Checkpoint.FIRST + starts[k], new long[] {lengths[k]}, first));
        tensors.add(
            new SafetensorsWriter.Tensor(
                Checkpoint.SECOND + starts[k], new long[] {lengths[k]}, second));
      }
      SafetensorsWriter.write(dir.resolve(name), tensors, SafetensorsWriter.Dtype.F32, Map.of());
    }
    if (listed) {
      listed(name);
    }
  }

  private Checkpoint checkpoint() throws IOException {
    new Manifest(5, files).write(dir);
    return Checkpoint.open(dir).verify();
  }

  private AdamW adam(long from, long to) {
    AdamW a = new AdamW(layout, AdamW.Settings.llama(), cpu, from, to);
    optimizers.add(a);
    return a;
  }

  private static void assertMoments(AdamW a) {
    for (long i = a.from(); i < a.to(); i++) {
      assertThat(a.firstMoment().get(i - a.from())).as("exp_avg %d", i).isEqualTo((float) i);
      assertThat(a.secondMoment().get(i - a.from()))
          .as("exp_avg_sq %d", i)
          .isEqualTo((float) (2 * i));
    }
    assertThat(a.steps()).isEqualTo(7);
  }

  @Test
  void shardsOfTwoRanksFillOptimizersSplitAnotherWay() throws IOException {
    shard("optimizer/rank-00000-of-00002.safetensors", true, new String[] {"0", "30"}, 10, 6);
    shard("optimizer/rank-00001-of-00002.safetensors", true, new String[] {"10"}, 20);
    Checkpoint c = checkpoint();
    List<AdamW> resumed = List.of(adam(0, 7), adam(7, 15), adam(15, 36));
    c.loadOptimizer(resumed);
    resumed.forEach(CheckpointTest::assertMoments);
    AdamW whole = adam(0, 36);
    c.loadOptimizer(List.of(whole));
    assertMoments(whole);
    AdamW middle = adam(12, 31);
    c.loadOptimizer(List.of(middle));
    assertMoments(middle);
  }

  @Test
  void onlyTheListedSafetensorsOfTheOptimizerDirectoryCount() throws IOException {
    shard("optimizer/rank-00000-of-00001.safetensors", true, new String[] {"0"}, 12);
    shard("optimizer/stray.safetensors", false, new String[] {"4"}, 4); // would overlap
    shard("optimizer/notes.bin", true, new String[] {"4"}, 4);
    shard("other.safetensors", true, new String[] {"4"}, 4);
    Checkpoint c = checkpoint();
    AdamW a = adam(0, 12);
    c.loadOptimizer(List.of(a));
    assertMoments(a);
  }

  @Test
  void overlappingMissingOrUnnamedShardsAreErrorsNamingTheParameters() throws IOException {
    shard("optimizer/rank-00000-of-00002.safetensors", true, new String[] {"0"}, 10);
    shard("optimizer/rank-00001-of-00002.safetensors", true, new String[] {"8"}, 10);
    Checkpoint overlapping = checkpoint();
    assertThatThrownBy(() -> overlapping.loadOptimizer(List.of(adam(0, 18))))
        .isInstanceOf(CheckpointException.class)
        .hasMessage(dir + ": optimizer shards overlap at parameter 8");

    shard("optimizer/rank-00001-of-00002.safetensors", true, new String[] {"12"}, 10);
    Checkpoint gap = checkpoint();
    assertThatThrownBy(() -> gap.loadOptimizer(List.of(adam(4, 20))))
        .isInstanceOf(CheckpointException.class)
        .hasMessage(dir + ": the optimizer shards hold 14 of the 16 moments of parameters [4, 20)");
    AdamW past = adam(22, 30);
    assertThatThrownBy(() -> gap.loadOptimizer(List.of(past)))
        .hasMessage(dir + ": the optimizer shards hold 0 of the 8 moments of parameters [22, 30)");

    shard("optimizer/rank-00001-of-00002.safetensors", true, new String[] {"x"}, 10);
    Checkpoint unnamed = checkpoint();
    assertThatThrownBy(() -> unnamed.loadOptimizer(List.of(adam(0, 10))))
        .isInstanceOf(CheckpointException.class)
        .hasMessage(dir + ": optimizer tensor exp_avg@x has no start offset");
  }

  @Test
  void theTokenizerIsTheModelFileWhenThereIsOneAndTheConfigIsReadAsSaved() throws IOException {
    Files.writeString(dir.resolve(Checkpoint.CONFIG), "run_dir: somewhere\n");
    listed(Checkpoint.CONFIG);
    Checkpoint c = checkpoint();
    assertThat(c.configYaml()).isEqualTo("run_dir: somewhere\n");
    assertThat(c.tokenizer()).isNull();
    Files.writeString(dir.resolve("tokenizer.json"), "{}");
    assertThat(c.tokenizer()).isEqualTo(dir.resolve("tokenizer.json"));
    Files.writeString(dir.resolve("tokenizer.model"), "sp");
    assertThat(c.tokenizer()).isEqualTo(dir.resolve("tokenizer.model"));
    Files.delete(dir.resolve("tokenizer.json"));
    assertThat(c.tokenizer()).isEqualTo(dir.resolve("tokenizer.model"));
    Files.delete(dir.resolve("tokenizer.model"));
    Files.createDirectories(dir.resolve("tokenizer.json"));
    assertThat(c.tokenizer()).isNull();
  }

  @Test
  void aMissingDirectoryOrADamagedShareIsAnErrorNamingIt() throws IOException {
    assertThatThrownBy(() -> Checkpoint.open(dir.resolve("step-9")))
        .isInstanceOf(CheckpointException.class)
        .hasMessage(dir.resolve("step-9") + ": no such checkpoint directory");
    Files.writeString(dir.resolve("a"), "1");
    listed("a");
    Checkpoint c = checkpoint();
    Files.writeString(dir.resolve("a"), "22");
    assertThat(c.verify(0, 2).step()).isEqualTo(5); // trainer_state.json: whole
    assertThatThrownBy(() -> c.verify(1, 2))
        .isInstanceOf(CheckpointException.class)
        .hasMessage(dir + " is damaged: a has 2 bytes, the manifest says 1");
    assertThatThrownBy(c::verify).hasMessageContaining("a has 2 bytes");
  }
}
