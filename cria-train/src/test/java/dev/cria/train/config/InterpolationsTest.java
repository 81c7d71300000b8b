package dev.cria.train.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.node.ObjectNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

class InterpolationsTest {
  private static Interpolations of(String yaml) {
    return new Interpolations((ObjectNode) YAMLMapper.builder().build().readTree(yaml));
  }

  @Test
  void absoluteRelativeAndChainedReferencesKeepTheirType() {
    Interpolations v =
        of(
            """
            model:
              encoder_seq_length: 512
              max_position_embeddings: ${.encoder_seq_length}
              data:
                seq_length: ${model.max_position_embeddings}
                up: ${..encoder_seq_length}
                path: /data/${model.name}_text_document
              name: books
            """);
    assertThat(v.get("model.max_position_embeddings").isNumber()).isTrue();
    assertThat(v.get("model.max_position_embeddings").intValue()).isEqualTo(512);
    assertThat(v.get("model.data.seq_length").intValue()).isEqualTo(512);
    assertThat(v.get("model.data.up").intValue()).isEqualTo(512);
    assertThat(v.get("model.data.path").asString()).isEqualTo("/data/books_text_document");
    assertThat(v.get("model.absent")).isNull();
  }

  @Test
  void nemosMultiplyResolver() {
    Interpolations v =
        of("a: 8\nb: 2\nproduct: ${multiply:${a}, ${b}}\nhalf: ${multiply:3, 0.5}\n");
    assertThat(v.get("product").longValue()).isEqualTo(16);
    assertThat(v.get("half").doubleValue()).isEqualTo(1.5);
  }

  @Test
  void missingCyclicUnknownAndDanglingValuesAreNamed() {
    Interpolations v =
        of(
            """
            data_prefix: ???
            a: ${b}
            b: ${a}
            env: ${oc.env:HOME}
            dangling: ${nowhere.key}
            """);
    assertThatThrownBy(() -> v.get("data_prefix"))
        .hasMessage("data_prefix: is required (??? in the config: give it a value)");
    assertThatThrownBy(() -> v.get("a")).hasMessageContaining("refers back to itself");
    assertThatThrownBy(() -> v.get("env"))
        .hasMessage("env: unknown resolver 'oc.env' (cria knows NeMo's multiply)");
    assertThatThrownBy(() -> v.get("dangling"))
        .hasMessage("dangling: ${nowhere.key} refers to nowhere.key, which is not set");
  }
}
