package dev.cria.train.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.core.checksum.Checksums;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.io.HfConfig;
import dev.cria.engine.io.HfModelFiles;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import dev.cria.train.config.TrainConfig;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading a trained model from a run, a checkpoint or a Hugging Face directory. */
class TrainedModelTest {
  @TempDir Path tmp;
  Backend cpu;
  Path run;
  TrainConfig config;
  TestCheckpoints.Lines reports = new TestCheckpoints.Lines();

  @BeforeEach
  void setUp() throws IOException {
    cpu = Backends.open("cpu", 1);
    run = tmp.resolve("run");
    config = TestCheckpoints.config(TestCheckpoints.tree(run, TestCheckpoints.tokenizer(tmp)));
  }

  @AfterEach
  void tearDown() {
    cpu.close();
  }

  private static void assertParametersOfStep(TrainedModel m, long step) {
    for (long i = 0; i < m.layout().size(); i++) {
      if (m.parameters().get(i) != TestCheckpoints.value(i, step)) {
        throw new AssertionError("parameter " + i + ": " + m.parameters().get(i));
      }
    }
  }

  /** Replaces {@code name} in checkpoint {@code dir} and its manifest entry, as if saved so. */
  private static void rewrite(Path dir, String name, String content) throws IOException {
    Files.writeString(dir.resolve(name), content);
    Manifest m = Manifest.read(dir);
    Map<String, Manifest.FileEntry> files = new LinkedHashMap<>(m.files());
    Path f = dir.resolve(name);
    files.put(name, new Manifest.FileEntry(Files.size(f), Checksums.crc32c(f)));
    new Manifest(m.step(), files).write(dir);
  }

  @Test
  void aRunDirectoryGivesItsNewestValidCheckpointWithItsConfigAndTokenizer() throws IOException {
    TestCheckpoints.save(config, 2, cpu);
    Path step4 = TestCheckpoints.save(config, 4, cpu);
    try (TrainedModel m = TrainedModel.load(run, reports)) {
      assertThat(m.source()).isEqualTo(step4);
      assertThat(m.checkpoint().step()).isEqualTo(4);
      assertThat(m.config()).isEqualTo(config);
      assertThat(m.shape()).isEqualTo(TestCheckpoints.shape(config));
      assertThat(m.layout().size()).isEqualTo(new ParameterLayout(m.shape()).size());
      assertThat(m.tokenizer().vocabSize()).isEqualTo(294);
      assertThat(m.tokenizerPath()).isEqualTo(step4);
      assertParametersOfStep(m, 4);
    }
    assertThat(reports.lines).isEmpty();
    try (TrainedModel m = TrainedModel.load(Checkpoints.stepDirectory(run, 2), reports)) {
      assertThat(m.checkpoint().step()).isEqualTo(2);
      assertParametersOfStep(m, 2);
    }
  }

  @Test
  void aRunWithoutTokenizerHasNone() throws IOException {
    TrainConfig noTok = TestCheckpoints.config(TestCheckpoints.tree(tmp.resolve("r2"), null));
    Path dir = TestCheckpoints.save(noTok, 1, cpu);
    try (TrainedModel m = TrainedModel.load(dir, reports)) {
      assertThat(m.tokenizer()).isNull();
      assertThat(m.tokenizerPath()).isNull();
      assertThat(m.shape().vocabSize()).isEqualTo(32000);
      assertParametersOfStep(m, 1);
    }
  }

  @Test
  void aHuggingFaceDirectoryIsReadWithItsTokenizerWhenItHasOne() throws IOException {
    LlamaConfig shape = new LlamaConfig(16, 1, 2, 1, 32, 40, 1e-5f, 10000f, 8);
    ParameterLayout layout = new ParameterLayout(shape);
    Path hf = tmp.resolve("hf");
    try (Arena arena = Arena.ofConfined()) {
      Floats p = Floats.allocate(arena, layout.size());
      for (long i = 0; i < layout.size(); i++) {
        p.set(i, TestCheckpoints.value(i, 9));
      }
      HfModelFiles.write(hf, layout, p, SafetensorsWriter.Dtype.F32, Long.MAX_VALUE, Map.of());
    }
    Files.writeString(
        hf.resolve("config.json"), HfConfig.configJson(shape, 1, 2, SafetensorsWriter.Dtype.F32));
    try (TrainedModel m = TrainedModel.load(hf, reports)) {
      assertThat(m.source()).isEqualTo(hf);
      assertThat(m.checkpoint()).isNull();
      assertThat(m.config()).isNull();
      assertThat(m.shape()).isEqualTo(shape);
      assertThat(m.tokenizer()).isNull();
      assertThat(m.tokenizerPath()).isNull();
      assertParametersOfStep(m, 9);
    }
    TestCheckpoints.tokenizer(hf);
    try (TrainedModel m = TrainedModel.load(hf, reports)) {
      assertThat(m.tokenizer().vocabSize()).isEqualTo(294);
      assertThat(m.tokenizerPath()).isEqualTo(hf);
    }
    Files.move(hf.resolve("tokenizer.json"), hf.resolve("tokenizer.model"));
    try (TrainedModel m = TrainedModel.load(hf, reports)) { // told by content, not by name
      assertThat(m.tokenizer().vocabSize()).isEqualTo(294);
      assertThat(m.tokenizerPath()).isEqualTo(hf);
    }
  }

  @Test
  void aHuggingFaceTensorOfAnotherShapeIsAnErrorNamingIt() throws IOException {
    LlamaConfig shape = new LlamaConfig(16, 1, 2, 1, 32, 40, 1e-5f, 10000f, 8);
    LlamaConfig wider = new LlamaConfig(16, 1, 2, 1, 64, 40, 1e-5f, 10000f, 8);
    Path hf = tmp.resolve("hf");
    try (Arena arena = Arena.ofConfined()) {
      ParameterLayout layout = new ParameterLayout(wider);
      HfModelFiles.write(
          hf,
          layout,
          Floats.allocate(arena, layout.size()),
          SafetensorsWriter.Dtype.F32,
          Long.MAX_VALUE,
          Map.of());
    }
    Files.writeString(
        hf.resolve("config.json"), HfConfig.configJson(shape, 1, 2, SafetensorsWriter.Dtype.F32));
    assertThatThrownBy(() -> TrainedModel.load(hf, reports))
        .hasMessageContaining("mlp.gate_proj.weight has shape [64, 16], the model needs [32, 16]");
  }

  @Test
  void aCheckpointWhoseConfigIsBrokenOrDescribesAnotherModelIsAnErrorNamingIt() throws IOException {
    Path dir = TestCheckpoints.save(config, 3, cpu);
    String yaml = Files.readString(dir.resolve(Checkpoint.CONFIG));
    rewrite(dir, Checkpoint.CONFIG, yaml.replace("hidden_size: 16", "hidden_size: 32"));
    assertThatThrownBy(() -> TrainedModel.load(dir, reports))
        .hasMessageContaining("model.embed_tokens.weight has shape [294, 16]")
        .hasMessageContaining("[294, 32]");

    rewrite(dir, Checkpoint.CONFIG, yaml.replace("hidden_size: 16", "hidden_size: -3"));
    assertThatThrownBy(() -> TrainedModel.load(dir, reports))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining(dir.resolve(Checkpoint.CONFIG).toString())
        .hasMessageContaining("hidden_size");
  }

  @Test
  void aDirectoryThatIsNeitherIsRefusedAndADamagedRunReported() throws IOException {
    Files.createDirectories(tmp.resolve("empty"));
    assertThatThrownBy(() -> TrainedModel.load(tmp.resolve("empty"), reports))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("neither a checkpoint (manifest.json) nor a run directory");
    Path dir = TestCheckpoints.save(config, 3, cpu);
    Files.delete(dir.resolve(Checkpoint.MODEL));
    assertThatThrownBy(() -> TrainedModel.load(run, reports))
        .isInstanceOf(CheckpointException.class)
        .hasMessage(run + ": no usable checkpoint in " + Checkpoints.directory(run));
    assertThat(reports.lines)
        .singleElement()
        .asString()
        .contains("step-3 is not usable", "model.safetensors is missing");
  }

  @Test
  void closingFreesTheParameters() throws IOException {
    TestCheckpoints.save(config, 1, cpu);
    TrainedModel m = TrainedModel.load(run, reports);
    Floats p = m.parameters();
    m.close();
    assertThatThrownBy(() -> p.get(0)).isInstanceOf(IllegalStateException.class);
  }
}
