package dev.cria.engine.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.reference.ReferenceBackend;
import dev.cria.engine.tensor.Floats;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Hugging Face model files: import checked against a directory PyTorch wrote (fixture by {@code
 * tools/make_hf_fixture.py}: two BF16 shards, an index and config.json, with the reference model's
 * loss on a batch), cria's BF16 rounding against torch's bit for bit, and the exporter's
 * single-file and sharded layouts read back exactly.
 */
class HfModelFilesTest {
  static final Path HF = Path.of("src/test/resources/fixtures/hf-llama-bf16");
  static final Path F32 =
      Path.of("src/test/resources/fixtures/llama-small-gqa/weights.safetensors");
  @TempDir Path tmp;

  private static int[] flatten(JsonNode rows) {
    return java.util.stream.StreamSupport.stream(rows.spliterator(), false)
        .flatMapToInt(r ->
            java.util.stream.StreamSupport.stream(r.spliterator(), false)
                .mapToInt(JsonNode::intValue))
        .toArray();
  }

  @Test
  void importsADirectoryWrittenByPyTorchAndReproducesItsLoss() throws IOException {
    LlamaConfig config = HfConfig.read(HF.resolve("config.json"));
    assertThat(config).isEqualTo(new LlamaConfig(64, 2, 4, 2, 172, 256, 1e-5f, 10000f, 64));
    JsonNode expected = JsonMapper.builder().build().readTree(HF.resolve("expected.json").toFile());
    int[] tokens = flatten(expected.get("tokens"));
    int[] targets = flatten(expected.get("targets"));
    try (LlamaModel model = new LlamaModel(config, new ReferenceBackend(), 2, 16, false)) {
      HfModelFiles.read(HF, model.layout(), model.parameters(), false);
      model.forward(tokens, null, 1f);
      float[] logits = model.logits();
      for (int i = 0; i < 16; i++) {
        assertThat(logits[i])
            .isCloseTo(expected.get("logits_first_row").get(i).floatValue(), within(1e-4f));
        assertThat(logits[logits.length - 256 + i])
            .isCloseTo(expected.get("logits_last_row").get(i).floatValue(), within(1e-4f));
      }
      assertThat(model.forward(tokens, targets, 1f))
          .isCloseTo(expected.get("loss").doubleValue(), within(1e-5));
    }
  }

  @Test
  void bf16ExportRoundsAsTorchDoes() throws IOException {
    LlamaConfig config = HfConfig.read(HF.resolve("config.json"));
    ParameterLayout layout = new ParameterLayout(config);
    try (Arena arena = Arena.ofConfined();
        SafetensorsFile f32 = SafetensorsFile.open(F32)) {
      Floats weights = Floats.allocate(arena, layout.size());
      for (ParameterLayout.Tensor t : layout.tensors()) {
        f32.read(t.name(), weights.segment(), t.offset());
      }
      List<Path> written =
          HfModelFiles.write(
              tmp.resolve("bf16"),
              layout,
              weights,
              SafetensorsWriter.Dtype.BF16,
              1L << 30,
              Map.of());
      assertThat(written).containsExactly(tmp.resolve("bf16/model.safetensors"));
      Floats ours = Floats.allocate(arena, layout.size());
      Floats torch = Floats.allocate(arena, layout.size());
      HfModelFiles.read(tmp.resolve("bf16"), layout, ours, false);
      HfModelFiles.read(HF, layout, torch, false);
      for (long i = 0; i < layout.size(); i++) {
        assertThat(Float.floatToRawIntBits(ours.get(i)))
            .as("element %d", i)
            .isEqualTo(Float.floatToRawIntBits(torch.get(i)));
      }
    }
  }

  @Test
  void bf16RoundingTiesToEvenAndKeepsSpecials() {
    assertThat(SafetensorsWriter.bf16(1f)).isEqualTo((short) 0x3F80);
    assertThat(SafetensorsWriter.bf16(Float.intBitsToFloat(0x3F808000)))
        .isEqualTo((short) 0x3F80); // tie, even
    assertThat(SafetensorsWriter.bf16(Float.intBitsToFloat(0x3F818000)))
        .isEqualTo((short) 0x3F82); // tie, up to even
    assertThat(SafetensorsWriter.bf16(Float.intBitsToFloat(0x3F808001))).isEqualTo((short) 0x3F81);
    assertThat(SafetensorsWriter.bf16(Float.POSITIVE_INFINITY)).isEqualTo((short) 0x7F80);
    assertThat(SafetensorsWriter.bf16(-0f)).isEqualTo((short) 0x8000);
    assertThat(Float.isNaN(Float.intBitsToFloat(SafetensorsWriter.bf16(Float.NaN) << 16))).isTrue();
    assertThat(
            Float.isNaN(
                Float.intBitsToFloat(
                    SafetensorsWriter.bf16(Float.intBitsToFloat(0x7F800001)) << 16)))
        .isTrue();
  }

  @Test
  void shardedF32ExportReadsBackExactlyWithAnIndexNamingEveryTensor() throws IOException {
    LlamaConfig config = new LlamaConfig(64, 3, 4, 2, 172, 256, 1e-5f, 10000f, 64);
    ParameterLayout layout = new ParameterLayout(config);
    try (Arena arena = Arena.ofConfined()) {
      Floats weights = Floats.allocate(arena, layout.size());
      java.util.SplittableRandom r = new java.util.SplittableRandom(3);
      for (long i = 0; i < layout.size(); i++) {
        weights.set(i, (float) r.nextGaussian());
      }
      List<Path> written =
          HfModelFiles.write(
              tmp.resolve("hf"),
              layout,
              weights,
              SafetensorsWriter.Dtype.F32,
              100_000,
              Map.of("format", "pt"));
      assertThat(written.getLast()).isEqualTo(tmp.resolve("hf/model.safetensors.index.json"));
      assertThat(written.size()).isGreaterThan(3);
      assertThat(tmp.resolve("hf/model.safetensors")).doesNotExist();
      for (Path shard : written.subList(0, written.size() - 1)) {
        // a shard exceeds the limit only when one tensor alone does (the embeddings, 64 KB each
        // here)
        assertThat(Files.size(shard)).isLessThan(100_000 + 4096);
      }
      JsonNode index =
          JsonMapper.builder()
              .build()
              .readTree(tmp.resolve("hf/model.safetensors.index.json").toFile());
      assertThat(index.get("weight_map").size()).isEqualTo(layout.tensors().size());
      assertThat(index.get("metadata").get("total_size").longValue()).isEqualTo(layout.size() * 4);

      Floats back = Floats.allocate(arena, layout.size());
      HfModelFiles.read(tmp.resolve("hf"), layout, back, false);
      for (long i = 0; i < layout.size(); i++) {
        assertThat(back.get(i)).isEqualTo(weights.get(i));
      }

      // the CRC returned while writing is the file's
      SafetensorsWriter.Written w =
          SafetensorsWriter.writeF32(tmp.resolve("one.safetensors"), layout, weights, Map.of());
      CRC32C crc = new CRC32C();
      crc.update(Files.readAllBytes(tmp.resolve("one.safetensors")));
      assertThat(w.crc32c()).isEqualTo(crc.getValue());
      assertThat(w.bytes()).isEqualTo(Files.size(tmp.resolve("one.safetensors")));
    }
  }

  @Test
  void configJsonRoundTripsAndMismatchesAreNamed() throws IOException {
    LlamaConfig c = new LlamaConfig(288, 6, 6, 2, 768, 8000, 1e-5f, 10000f, 256);
    Path file = tmp.resolve("config.json");
    Files.writeString(file, HfConfig.configJson(c, 1, 2, SafetensorsWriter.Dtype.BF16));
    assertThat(HfConfig.read(file)).isEqualTo(c);
    assertThat(Files.readString(file))
        .contains("\"LlamaForCausalLM\"", "\"torch_dtype\" : \"bfloat16\"");
    assertThat(
            HfConfig.differences(c, new LlamaConfig(288, 6, 6, 6, 768, 32000, 1e-5f, 10000f, 256))
                .stream()
                .map(Object::toString))
        .containsExactly("num_key_value_heads 2 (here) vs 6", "vocab_size 8000 (here) vs 32000");

    Files.writeString(
        file,
        Files.readString(file)
            .replace(
                "\"rope_scaling\" : null",
                "\"rope_scaling\" : {\"type\": \"linear\", \"factor\": 2.0}"));
    assertThatThrownBy(() -> HfConfig.read(file))
        .hasMessageContaining("rope_scaling")
        .hasMessageContaining(file.toString());
    assertThatThrownBy(() -> HfModelFiles.read(tmp, new ParameterLayout(c), null, false))
        .isInstanceOf(SafetensorsException.class)
        .hasMessageContaining("neither model.safetensors");
  }
}
