package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The FLOPs behind every MFU cria reports ({@link LlamaConfig#trainingFlopsPerToken}) against a
 * count made without cria: PyTorch's profiler summing the matrix products of one forward and
 * backward pass of tools/llama_reference.py's model ({@code tools/make_flops_fixture.py}), for the
 * tests' d=32 model, the tiny preset and a grouped-query one.
 */
class LlamaConfigFlopsTest {
  @Test
  void theFormulaCountsWhatPyTorchsProfilerCountsLessTheMaskedHalfOfAttention() throws IOException {
    JsonNode fixture;
    try (InputStream in = getClass().getResourceAsStream("/fixtures/llama-training-flops.json")) {
      fixture = JsonMapper.builder().build().readTree(in);
    }
    assertThat(fixture.path("configs")).hasSize(3);
    for (JsonNode c : fixture.path("configs")) {
      LlamaConfig config =
          new LlamaConfig(
              c.path("dim").asInt(),
              c.path("layers").asInt(),
              c.path("heads").asInt(),
              c.path("kv_heads").asInt(),
              c.path("ffn").asInt(),
              c.path("vocab").asInt(),
              1e-5f,
              10000f,
              c.path("seq").asInt());
      int seq = c.path("seq").asInt();
      // the reference model multiplies the whole T x T score matrix (and masks it after); causal
      // attention needs only its lower half, which is what cria counts: 12 L T D of the full
      // products' forward and backward, halved
      double maskedHalf = 6.0 * config.layers() * seq * config.dim();
      assertThat(config.trainingFlopsPerToken(seq))
          .as("%s at %d tokens", config.describe(), seq)
          .isEqualTo(c.path("matmul_flops_per_token_full_attention").asDouble() - maskedHalf);
    }
  }
}
