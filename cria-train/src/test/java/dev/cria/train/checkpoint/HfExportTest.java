package dev.cria.train.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.io.HfConfig;
import dev.cria.engine.io.HfModelFiles;
import dev.cria.engine.io.SafetensorsFile;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import dev.cria.train.config.TrainConfig;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Exporting a checkpoint as a Hugging Face model directory: the tensors as saved, the configs, the
 * tokenizer files; a directory that appears whole, and one that is never put where something else
 * is.
 */
class HfExportTest {
  private static final JsonMapper JSON = JsonMapper.builder().build();

  @TempDir Path tmp;
  Backend cpu;
  Path run;
  Path out;
  TrainConfig config;
  TestCheckpoints.Lines warnings = new TestCheckpoints.Lines();

  @BeforeEach
  void setUp() throws IOException {
    cpu = Backends.open("cpu", 1);
    run = tmp.resolve("run");
    out = tmp.resolve("out");
    config = TestCheckpoints.config(TestCheckpoints.tree(run, TestCheckpoints.tokenizer(tmp)));
    TestCheckpoints.save(config, 3, cpu);
    TestCheckpoints.save(config, 5, cpu);
  }

  @AfterEach
  void tearDown() {
    cpu.close();
  }

  private HfExport.Result export(Path source, SafetensorsWriter.Dtype dtype, boolean overwrite)
      throws IOException {
    return HfExport.export(
        new HfExport.Request(source, out, dtype, Long.MAX_VALUE, overwrite), warnings);
  }

  private static List<String> names(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private static JsonNode json(Path file) throws IOException {
    return JSON.readTree(Files.readString(file));
  }

  /** Every tensor of {@code dir}'s model file is parameter {@code offset + k} of {@code step}. */
  private void assertTensorsOfStep(Path modelFile, long step, boolean bf16) throws IOException {
    ParameterLayout layout = new ParameterLayout(TestCheckpoints.shape(config));
    try (SafetensorsFile f = SafetensorsFile.open(modelFile)) {
      assertThat(f.entries().keySet())
          .containsExactlyInAnyOrderElementsOf(
              layout.tensors().stream().map(ParameterLayout.Tensor::name).toList());
      for (ParameterLayout.Tensor t : layout.tensors()) {
        assertThat(f.entry(t.name()).shape())
            .as(t.name())
            .containsExactly(
                t.rows() == 1 ? new long[] {t.cols()} : new long[] {t.rows(), t.cols()});
        float[] got = f.readFloats(t.name());
        for (int k = 0; k < got.length; k++) {
          float v = TestCheckpoints.value(t.offset() + k, step);
          float expected = bf16 ? bf16(v) : v;
          if (got[k] != expected) {
            throw new AssertionError(t.name() + "[" + k + "]: " + got[k] + " vs " + expected);
          }
        }
      }
    }
  }

  /** {@code v} rounded to bfloat16, to nearest even, by hand. */
  private static float bf16(float v) {
    int bits = Float.floatToRawIntBits(v);
    int rounded = (bits + 0x7FFF + ((bits >>> 16) & 1)) & 0xFFFF0000;
    return Float.intBitsToFloat(rounded);
  }

  @Test
  void anExportWritesTheNewestCheckpointsTensorsConfigsAndTokenizerAndNamesThemInItsMarker()
      throws IOException {
    HfExport.Result r = export(run, SafetensorsWriter.Dtype.F32, false);

    assertThat(r.step()).isEqualTo(5L);
    assertThat(r.source()).isEqualTo(Checkpoints.stepDirectory(run, 5));
    assertThat(r.output()).isEqualTo(out);
    assertThat(r.tokenizer()).isTrue();
    List<String> written =
        List.of(
            "model.safetensors",
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json");
    assertThat(r.files()).containsExactlyElementsOf(written.stream().map(out::resolve).toList());
    long bytes = 0;
    for (String name : written) {
      bytes += Files.size(out.resolve(name));
    }
    assertThat(r.bytes()).isEqualTo(bytes);
    assertThat(names(out))
        .containsExactlyInAnyOrderElementsOf(
            Stream.concat(written.stream(), Stream.of(HfExport.MARKER)).toList());
    assertThat(names(tmp)).containsExactlyInAnyOrder("out", "run", "tokenizer.json");

    JsonNode marker = json(out.resolve(HfExport.MARKER));
    assertThat(marker.path("format").asString()).isEqualTo("cria.export/v1");
    List<String> listed = new ArrayList<>();
    marker.path("files").forEach(n -> listed.add(n.asString()));
    assertThat(listed).containsExactlyElementsOf(written);

    assertTensorsOfStep(out.resolve("model.safetensors"), 5, false);
    LlamaConfig shape = TestCheckpoints.shape(config);
    JsonNode c = json(out.resolve("config.json"));
    assertThat(c.path("hidden_size").asInt()).isEqualTo(16);
    assertThat(c.path("vocab_size").asInt()).isEqualTo(shape.vocabSize()).isEqualTo(294);
    assertThat(c.path("bos_token_id").asInt()).isEqualTo(1);
    assertThat(c.path("eos_token_id").asInt()).isEqualTo(2);
    assertThat(c.path("torch_dtype").asString()).isEqualTo("float32");
    assertThat(HfConfig.read(out.resolve("config.json"))).isEqualTo(shape);
    JsonNode g = json(out.resolve("generation_config.json"));
    assertThat(g.path("max_length").asInt()).isEqualTo(8);
    assertThat(g.path("bos_token_id").asInt()).isEqualTo(1);
    assertThat(g.path("eos_token_id").asInt()).isEqualTo(2);
    assertThat(Files.readString(out.resolve("tokenizer.json")))
        .isEqualTo(Files.readString(tmp.resolve("tokenizer.json")));

    JsonNode t = json(out.resolve("tokenizer_config.json"));
    assertThat(t.path("tokenizer_class").asString()).isEqualTo("PreTrainedTokenizerFast");
    assertThat(t.path("unk_token").asString()).isEqualTo("<unk>");
    assertThat(t.path("bos_token").asString()).isEqualTo("<s>");
    assertThat(t.path("eos_token").asString()).isEqualTo("</s>");
    assertThat(t.path("pad_token").isNull()).isTrue();
    assertThat(t.path("add_bos_token").asBoolean()).isTrue();
    assertThat(t.path("add_eos_token").asBoolean(true)).isFalse();
    assertThat(t.path("model_max_length").asInt()).isEqualTo(8);
    assertThat(t.path("clean_up_tokenization_spaces").asBoolean(true)).isFalse();
    assertThat(warnings.lines).isEmpty();
  }

  @Test
  void bf16RoundsEveryParameterToNearestEvenAndSaysSoInTheConfig() throws IOException {
    HfExport.Result r =
        export(Checkpoints.stepDirectory(run, 3), SafetensorsWriter.Dtype.BF16, false);
    assertThat(r.step()).isEqualTo(3L);
    assertTensorsOfStep(out.resolve("model.safetensors"), 3, true);
    assertThat(json(out.resolve("config.json")).path("torch_dtype").asString())
        .isEqualTo("bfloat16");
  }

  @Test
  void aDamagedNewestCheckpointIsPassedOverWithAWarning() throws IOException {
    Path model = Checkpoints.stepDirectory(run, 5).resolve(Checkpoint.MODEL);
    byte[] bytes = Files.readAllBytes(model);
    bytes[bytes.length - 1] ^= 1;
    Files.write(model, bytes);
    HfExport.Result r = export(run, SafetensorsWriter.Dtype.F32, false);
    assertThat(r.step()).isEqualTo(3L);
    assertTensorsOfStep(out.resolve("model.safetensors"), 3, false);
    assertThat(warnings.lines).hasSize(1);
    assertThat(warnings.lines.getFirst()).contains("step-5 is not usable", "trying step-3");
  }

  @Test
  void pastTheShardSizeTheModelIsSplitWithAnIndexListedLast() throws IOException {
    HfExport.Result r =
        HfExport.export(
            new HfExport.Request(run, out, SafetensorsWriter.Dtype.F32, 8_000, false), warnings);
    List<String> files = r.files().stream().map(p -> p.getFileName().toString()).toList();
    int shards = files.indexOf(HfModelFiles.INDEX);
    assertThat(shards).isGreaterThan(1);
    for (int s = 0; s < shards; s++) {
      assertThat(files.get(s))
          .isEqualTo(String.format("model-%05d-of-%05d.safetensors", s + 1, shards));
    }
    assertThat(files.subList(shards + 1, files.size()))
        .containsExactly(
            "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json");
    assertThat(out.resolve("model.safetensors")).doesNotExist();
    try (TrainedModel back = TrainedModel.load(out, warnings)) {
      for (long i = 0; i < back.layout().size(); i++) {
        assertThat(back.parameters().get(i)).isEqualTo(TestCheckpoints.value(i, 5));
      }
    }
  }

  @Test
  void aHuggingFaceDirectoryWithoutTokenizerIsExportedWithLlamasSpecialIds() throws IOException {
    LlamaConfig shape = new LlamaConfig(16, 1, 2, 1, 32, 40, 1e-5f, 10000f, 8);
    ParameterLayout layout = new ParameterLayout(shape);
    Path hf = tmp.resolve("hf");
    try (Arena arena = Arena.ofConfined()) {
      Floats p = Floats.allocate(arena, layout.size());
      for (long i = 0; i < layout.size(); i++) {
        p.set(i, i * 0.5f);
      }
      HfModelFiles.write(hf, layout, p, SafetensorsWriter.Dtype.F32, Long.MAX_VALUE, Map.of());
    }
    Files.writeString(
        hf.resolve("config.json"), HfConfig.configJson(shape, 7, 9, SafetensorsWriter.Dtype.F32));

    HfExport.Result r = export(hf, SafetensorsWriter.Dtype.F32, false);

    assertThat(r.step()).isNull();
    assertThat(r.tokenizer()).isFalse();
    assertThat(r.source()).isEqualTo(hf);
    assertThat(r.files())
        .containsExactly(
            out.resolve("model.safetensors"),
            out.resolve("config.json"),
            out.resolve("generation_config.json"));
    JsonNode c = json(out.resolve("config.json"));
    assertThat(c.path("bos_token_id").asInt()).isEqualTo(1);
    assertThat(c.path("eos_token_id").asInt()).isEqualTo(2);
    try (SafetensorsFile f = SafetensorsFile.open(out.resolve("model.safetensors"))) {
      ParameterLayout.Tensor t = layout.tensor("model.layers.0.self_attn.k_proj.weight");
      float[] k = f.readFloats(t.name());
      for (int i = 0; i < k.length; i++) {
        assertThat(k[i]).isEqualTo((t.offset() + i) * 0.5f);
      }
    }
  }

  @Test
  void aTokenizerConfigOfTheRunIsCopiedAsItIs() throws IOException {
    Path tokDir = tmp.resolve("tokdir");
    TestCheckpoints.tokenizer(tokDir);
    Files.writeString(tokDir.resolve("tokenizer_config.json"), "{\"mine\": true}\n");
    Path run2 = tmp.resolve("run2");
    TrainConfig c2 = TestCheckpoints.config(TestCheckpoints.tree(run2, tokDir));
    Path step = TestCheckpoints.save(c2, 2, cpu);
    assertThat(names(step)).contains("tokenizer.json", "tokenizer_config.json");

    HfExport.Result r = export(run2, SafetensorsWriter.Dtype.F32, false);

    assertThat(Files.readString(out.resolve("tokenizer_config.json")))
        .isEqualTo("{\"mine\": true}\n");
    assertThat(r.files().stream().map(p -> p.getFileName().toString()))
        .containsExactly(
            "model.safetensors",
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json");
  }

  @Test
  void anOutputThatNamesNoDirectoryOrOverlapsTheSourceIsRefused() {
    assertThatThrownBy(() ->
            HfExport.export(
                new HfExport.Request(
                    run, Path.of("/"), SafetensorsWriter.Dtype.F32, Long.MAX_VALUE, false),
                warnings))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("--output / names no directory to create");
    for (Path inside : List.of(run.resolve("export"), tmp)) {
      assertThatThrownBy(() ->
              HfExport.export(
                  new HfExport.Request(
                      run, inside, SafetensorsWriter.Dtype.F32, Long.MAX_VALUE, true),
                  warnings))
          .as(inside.toString())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("--output " + inside + " overlaps the checkpoint it exports (" + run + ")");
    }
    assertThat(run.resolve("export")).doesNotExist();
  }

  @Test
  void anOutputThatCannotBeWrittenIsNamedNotItsHiddenTemporary() throws IOException {
    Path file = Files.writeString(tmp.resolve("afile"), "mine");
    Path below = file.resolve("export");
    assertThatThrownBy(() ->
            HfExport.export(
                new HfExport.Request(
                    run, below, SafetensorsWriter.Dtype.F32, Long.MAX_VALUE, false),
                warnings))
        .isInstanceOf(IOException.class)
        .hasMessage(
            "--output "
                + below
                + ": cannot write in "
                + file
                + " ("
                + file
                + " is a file, not a directory)");
    assertThat(file).hasContent("mine");
  }

  @Test
  void anExistingOutputNeedsOverwriteButAnEmptyDirectoryDoesNot() throws IOException {
    Files.createDirectories(out);
    Files.writeString(out.resolve("notes.txt"), "mine");
    assertThatThrownBy(() -> export(run, SafetensorsWriter.Dtype.F32, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            out
                + " already exists and is not a cria export (no .cria-export.json); pick another"
                + " --output (--overwrite replaces only an earlier export)");
    assertThat(names(out)).containsExactly("notes.txt");

    Files.delete(out.resolve("notes.txt"));
    assertThat(export(run, SafetensorsWriter.Dtype.F32, false).step()).isEqualTo(5L);
    assertThatThrownBy(() -> export(run, SafetensorsWriter.Dtype.F32, false))
        .hasMessage(
            out
                + " holds an earlier cria export; pick another --output or pass --overwrite to"
                + " replace it");
  }

  @Test
  void overwriteReplacesOnlyAnEarlierExportAndNamesWhatElseIsThere() throws IOException {
    Files.createDirectories(out);
    Files.writeString(out.resolve("notes.txt"), "mine");
    assertThatThrownBy(() -> export(run, SafetensorsWriter.Dtype.F32, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "--overwrite replaces only an earlier cria export, and "
                + out
                + " is not one (no .cria-export.json): notes.txt; move them away or pick another"
                + " --output");
    assertThat(names(out)).containsExactly("notes.txt");

    Files.writeString(out.resolve(HfExport.MARKER), "{not json");
    assertThatThrownBy(() -> export(run, SafetensorsWriter.Dtype.F32, true))
        .hasMessageContaining(" is not one (no .cria-export.json): .cria-export.json, notes.txt;");

    Files.delete(out.resolve(HfExport.MARKER));
    Files.delete(out.resolve("notes.txt"));
    export(Checkpoints.stepDirectory(run, 3), SafetensorsWriter.Dtype.F32, false);
    Files.writeString(out.resolve("extra.txt"), "added later");
    assertThatThrownBy(() -> export(run, SafetensorsWriter.Dtype.F32, true))
        .hasMessage(
            "--overwrite replaces only an earlier cria export, and "
                + out
                + " holds files cria did not write: extra.txt; move them away or pick another"
                + " --output");

    Files.delete(out.resolve("extra.txt"));
    HfExport.Result again = export(run, SafetensorsWriter.Dtype.F32, true);
    assertThat(again.step()).isEqualTo(5L);
    assertTensorsOfStep(out.resolve("model.safetensors"), 5, false);
    assertThat(names(tmp)).containsExactlyInAnyOrder("out", "run", "tokenizer.json");
  }

  @Test
  void overwriteRefusesAFileAndListsAtMostEightForeignNames() throws IOException {
    Files.writeString(out, "a file");
    assertThatThrownBy(() -> export(run, SafetensorsWriter.Dtype.F32, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("--overwrite replaces only an earlier cria export; " + out + " is a file");
    Files.delete(out);

    Files.createDirectories(out);
    for (int i = 0; i < 10; i++) {
      Files.writeString(out.resolve("f" + i), "x");
    }
    assertThatThrownBy(() -> export(run, SafetensorsWriter.Dtype.F32, true))
        .hasMessageContaining(": f0, f1, f2, f3, f4, f5, f6, f7, ... (10 in all); move them away");
    for (int i = 2; i < 10; i++) {
      Files.delete(out.resolve("f" + i));
    }
    assertThatThrownBy(() -> export(run, SafetensorsWriter.Dtype.F32, true))
        .hasMessageContaining(": f0, f1; move them away");
  }

  @Test
  void unfinishedExportsOfDeadProcessesAreRemovedAndOthersLeftAlone() throws IOException {
    Path dead = tmp.resolve(".out.partial-99999999");
    Path alive =
        tmp.resolve(".out.partial-" + ProcessHandle.current().parent().orElseThrow().pid());
    Path notAPid = tmp.resolve(".out.partial-x");
    Path otherOutput = tmp.resolve(".other.partial-99999999");
    for (Path p : List.of(dead, alive, notAPid, otherOutput)) {
      Files.createDirectories(p);
      Files.writeString(p.resolve("model.safetensors"), "half");
    }
    export(run, SafetensorsWriter.Dtype.F32, false);
    assertThat(dead).doesNotExist();
    assertThat(alive).isDirectory();
    assertThat(notAPid).isDirectory();
    assertThat(otherOutput).isDirectory();
  }
}
