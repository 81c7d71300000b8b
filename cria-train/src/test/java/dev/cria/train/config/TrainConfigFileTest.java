package dev.cria.train.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.node.ObjectNode;

class TrainConfigFileTest {
  @TempDir Path tmp;

  private ObjectNode defaultsWithData() {
    ObjectNode t = TrainConfigFile.defaults();
    TrainConfigFile.set(t, "data.data_prefix", List.of("data/x_text_document"));
    return t;
  }

  @Test
  void fileOverridesDefaultsAndFlagsOverrideTheFile() throws IOException {
    Path file = tmp.resolve("c.yaml");
    Files.writeString(
        file,
        """
        model:
          preset: small
        data:
          data_prefix: data/brown_text_document
          split: 980,10,10
        trainer:
          max_steps: 300
          global_batch_size: 16
        optim:
          lr: 3e-4        # YAML 1.1 reads this as text; it is still a number here
          min_lr: 0.00003
        """);
    ObjectNode tree = TrainConfigFile.defaults();
    TrainConfigFile.merge(tree, TrainConfigFile.read(file));
    TrainConfigFile.set(tree, "trainer.max_steps", 50L);
    TrainConfig c = TrainConfigFile.bind(tree, file.toString());
    assertThat(c.model().preset()).isEqualTo("small");
    assertThat(c.data().dataPrefix()).containsExactly("data/brown_text_document");
    assertThat(c.trainer().maxSteps()).isEqualTo(50);
    assertThat(c.trainer().globalBatchSize()).isEqualTo(16);
    assertThat(c.trainer().microBatchSize()).isEqualTo(4); // default kept
    assertThat(c.optim().lr()).isEqualTo(3e-4);
    assertThat(c.optim().minLr()).isEqualTo(3e-5);
  }

  @Test
  void theExampleConfigsAreValid() {
    Path example = Path.of("..", "examples", "brown-tiny.yaml");
    ObjectNode tree = TrainConfigFile.defaults();
    TrainConfigFile.merge(tree, TrainConfigFile.read(example));
    TrainConfig c = TrainConfigFile.bind(tree, example.toString());
    assertThat(c.model().preset()).isEqualTo("tiny");
    assertThat(c.trainer().maxSteps()).isEqualTo(300);
  }

  @Test
  void writtenYamlReadsBackToTheSameConfig() {
    ObjectNode tree = defaultsWithData();
    // Text that YAML would read as something else unless quoted.
    TrainConfigFile.set(tree, "data.data_prefix", List.of("0.3", "data/a: b", "0.7", "yes"));
    TrainConfigFile.set(tree, "model.tokenizer", "null");
    TrainConfigFile.set(tree, "run_dir", "# not a comment");
    TrainConfig c = TrainConfigFile.bind(tree, "defaults");
    Path file = tmp.resolve("config.yaml");
    try {
      Files.writeString(file, TrainConfigFile.toYaml(c));
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    assertThat(TrainConfigFile.bind(TrainConfigFile.read(file), "config.yaml")).isEqualTo(c);
  }

  @Test
  void theRotaryBaseIsTheModelsKeyAndThePresetsWhenUnset() {
    ObjectNode tree = defaultsWithData();
    assertThat(ModelShape.of(TrainConfigFile.bind(tree, "d").model(), null).ropeTheta())
        .isEqualTo(10000f);
    TrainConfigFile.set(tree, "model.rotary_base", 1e6); // CodeLlama's
    TrainConfig c = TrainConfigFile.bind(tree, "flags");
    assertThat(ModelShape.of(c.model(), null).ropeTheta()).isEqualTo(1e6f);
    assertThat(TrainConfigFile.toYaml(c)).contains("rotary_base: 1000000.0");
    TrainConfigFile.set(tree, "model.rotary_base", 0.5);
    assertThatThrownBy(() -> TrainConfigFile.bind(tree, "flags"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("model.rotary_base");
  }

  @Test
  void aKeyGivenTwiceInAFileIsRefusedWithItsLine() throws IOException {
    Path file = tmp.resolve("twice.yaml");
    Files.writeString(file, "trainer:\n  max_steps: 5\n  seed: 1\n  max_steps: 7\n");
    assertThatThrownBy(() -> TrainConfigFile.read(file))
        .isInstanceOf(ConfigException.class)
        .hasMessage(
            file
                + ":4: max_steps is given twice in the same mapping (which one was meant? NeMo's"
                + " loader refuses this too)");
    // the same name in two mappings is two keys
    Files.writeString(file, "trainer:\n  seed: 1\noptim:\n  seed: 2\n");
    assertThat(TrainConfigFile.read(file).path("optim").path("seed").asInt()).isEqualTo(2);
  }

  @Test
  void mistakesNameTheFileAndField() throws IOException {
    ObjectNode typo = defaultsWithData();
    TrainConfigFile.set(typo, "optim.lrr", 1.0);
    assertThatThrownBy(() -> TrainConfigFile.bind(typo, "run.yaml"))
        .hasMessageStartingWith("run.yaml: optim.lrr: unknown key (known here: lr, min_lr");

    ObjectNode wrongType = defaultsWithData();
    TrainConfigFile.set(wrongType, "trainer.micro_batch_size", "eight");
    assertThatThrownBy(() -> TrainConfigFile.bind(wrongType, "run.yaml"))
        .hasMessage("run.yaml: trainer.micro_batch_size: expected an integer, got 'eight'");

    ObjectNode negative = defaultsWithData();
    TrainConfigFile.set(negative, "trainer.max_steps", -3L);
    assertThatThrownBy(() -> TrainConfigFile.bind(negative, "flags"))
        .hasMessage("flags: trainer.max_steps: must be at least 1, got -3");

    ObjectNode zero3 = defaultsWithData();
    TrainConfigFile.set(zero3, "distributed.zero_stage", 3);
    assertThat(TrainConfigFile.bind(zero3, "flags").distributed().zeroStage()).isEqualTo(3);
    ObjectNode zero4 = defaultsWithData();
    TrainConfigFile.set(zero4, "distributed.zero_stage", 4);
    assertThatThrownBy(() -> TrainConfigFile.bind(zero4, "flags"))
        .hasMessage("flags: distributed.zero_stage: must be between 1 and 3, got 4");

    ObjectNode beat = defaultsWithData();
    assertThat(TrainConfigFile.bind(beat, "flags").distributed().heartbeat())
        .isEqualTo(Duration.ofSeconds(5));
    TrainConfigFile.set(beat, "distributed.heartbeat_seconds", 2.5);
    assertThat(TrainConfigFile.bind(beat, "flags").distributed().heartbeat())
        .isEqualTo(Duration.ofMillis(2500));
    TrainConfigFile.set(beat, "distributed.heartbeat_seconds", 0.05);
    assertThatThrownBy(() -> TrainConfigFile.bind(beat, "flags"))
        .hasMessage("flags: distributed.heartbeat_seconds: must be between 0.1 and 3600, got 0.05");

    ObjectNode clip = defaultsWithData();
    TrainConfigFile.set(clip, "optim.clip_grad", -1.0);
    assertThatThrownBy(() -> TrainConfigFile.bind(clip, "flags"))
        .hasMessage("flags: optim.clip_grad: must be between 0 and 1000000000, got -1.0");

    ObjectNode noData = TrainConfigFile.defaults();
    assertThatThrownBy(() -> TrainConfigFile.bind(noData, "flags"))
        .hasMessageContaining("data.data_prefix: is required");

    ObjectNode warmup = defaultsWithData();
    TrainConfigFile.set(warmup, "optim.warmup_steps", 100L);
    assertThatThrownBy(() -> TrainConfigFile.bind(warmup, "flags"))
        .hasMessage(
            "flags: optim.warmup_steps 100 must leave steps to decay in before trainer.max_steps"
                + " 100");

    Path broken = tmp.resolve("broken.yaml");
    Files.writeString(broken, "model:\n  preset: tiny\n data: [unclosed\n");
    assertThatThrownBy(() -> TrainConfigFile.read(broken))
        .isInstanceOf(ConfigException.class)
        .hasMessageEndingWith(
            "broken.yaml:3: not valid YAML: while parsing a block mapping: expected <block end>,"
                + " but found '<block mapping start>'");
    assertThatThrownBy(() -> TrainConfigFile.read(tmp.resolve("absent.yaml")))
        .hasMessageContaining("absent.yaml: no such config file");
    Path binary = tmp.resolve("data.bin");
    Files.write(binary, new byte[] {(byte) 0xFF, (byte) 0xFE, 0, 'x'});
    assertThatThrownBy(() -> TrainConfigFile.read(binary))
        .isInstanceOf(ConfigException.class)
        .hasMessage(binary + ": not a YAML config (its bytes are not UTF-8 text)");

    Path list = tmp.resolve("list.yaml");
    Files.writeString(list, "- a\n- b\n");
    assertThatThrownBy(() -> TrainConfigFile.read(list))
        .hasMessageContaining("expected a mapping of sections");
  }

  @Test
  void everyMistakeOfAFileIsReportedTogether() throws IOException {
    Path file = tmp.resolve("four.yaml");
    Files.writeString(
        file,
        """
        model: {preset: tiny, hidden_sise: 64}
        data: {data_prefix: x_text_document, seq_length: -1}
        trainer: {micro_batch_size: eight}
        optim: {lr: 1.0e-4, min_lr: 1.0e-3}
        """);
    ObjectNode tree = TrainConfigFile.defaults();
    TrainConfigFile.merge(tree, TrainConfigFile.read(file));
    assertThatThrownBy(() -> TrainConfigFile.bind(tree, "four.yaml"))
        .hasMessage(
            "4 mistakes in the config:\n"
                + "  four.yaml: data.seq_length: must be zero or more, got -1\n"
                + "  four.yaml: trainer.micro_batch_size: expected an integer, got 'eight'\n"
                + "  four.yaml: model.hidden_sise: unknown key (known here: preset, tokenizer,"
                + " hidden_size, num_layers, num_attention_heads, num_query_groups,"
                + " ffn_hidden_size, max_position_embeddings, layernorm_epsilon,"
                + " rotary_base, init_method_std, use_scaled_init_method, recompute)\n"
                + "  four.yaml: optim.min_lr 0.001 is above optim.lr 1.0E-4");
  }

  @Test
  void theDefaultWarmupNeverMakesAShortRunFail() {
    for (long steps : new long[] {1, 2, 5, 10, 11, 100}) {
      ObjectNode tree = defaultsWithData();
      TrainConfigFile.set(tree, "trainer.max_steps", steps);
      TrainConfig c = TrainConfigFile.bind(tree, "flags");
      assertThat(c.optim().warmupSteps()).isEqualTo(Math.min(10, steps - 1));
      // the config written with the run holds the number, so a longer continuation keeps it
      ObjectNode saved = TrainConfigFile.defaults();
      TrainConfigFile.merge(saved, TrainConfigFile.toTree(c));
      TrainConfigFile.set(saved, "trainer.max_steps", steps + 100);
      assertThat(TrainConfigFile.bind(saved, "saved").optim().warmupSteps())
          .isEqualTo(c.optim().warmupSteps());
    }
  }

  @Test
  void aConfigSavedBeforeTheCheckpointSectionExistedStillReads() throws IOException {
    Path old = tmp.resolve("old-config.yaml");
    Files.writeString(
        old,
        """
        run_dir: runs/old
        model: {preset: tiny}
        data: {data_prefix: [a_text_document], split: "980,10,10", seq_length: 256}
        trainer: {micro_batch_size: 4, global_batch_size: 8, max_steps: 300, seed: 1234, val_check_interval: 50,
          limit_val_batches: 4, log_every_n_steps: 10, threads: 0}
        optim: {lr: 1.0e-3, min_lr: 1.0e-4, warmup_steps: 30, weight_decay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1.0e-8,
          clip_grad: 1.0}
        """);
    TrainConfig c = TrainConfigFile.readSaved(old);
    assertThat(c.checkpoint()).isEqualTo(new TrainConfig.Checkpoint(0, 30, 2, false));
    assertThat(c.trainer().maxSteps()).isEqualTo(300);
    assertThat(c.trainer().backend()).isEqualTo("auto");
    assertThatThrownBy(() -> TrainConfigFile.bind(TrainConfigFile.read(old), "old"))
        .hasMessageContaining("old: trainer.backend: is required");
  }

  @Test
  void pathsTheRunReadsAreMadeAbsoluteAgainstItsDirectoryAndTheRestIsKept() {
    ObjectNode tree = defaultsWithData();
    TrainConfigFile.set(tree, "data.data_prefix", List.of("0.3", "./data/a", "0.7", "/abs/b"));
    TrainConfigFile.set(tree, "model.tokenizer", "../tok/tokenizer.model");
    TrainConfigFile.set(tree, "data.index_cache_dir", "cache");
    TrainConfigFile.set(tree, "run_dir", "runs/r");
    TrainConfig c = TrainConfigFile.bind(tree, "defaults");
    Path dir = Path.of("/work/here");

    TrainConfig resolved = c.withPathsFrom(dir);

    assertThat(resolved.data().dataPrefix())
        .containsExactly("0.3", "/work/here/data/a", "0.7", "/abs/b");
    // .. stays: through a symbolic link the system's parent is not the lexical one
    assertThat(resolved.model().tokenizer()).isEqualTo("/work/here/../tok/tokenizer.model");
    assertThat(resolved.data().indexCacheDir()).isEqualTo("/work/here/cache");
    assertThat(resolved.trainer().compileCache()).isNull();
    assertThat(resolved.runDir()).isEqualTo("runs/r");
    assertThat(TrainConfigFile.differences(c, resolved))
        .hasSize(3)
        .allMatch(d -> d.startsWith("data.") || d.startsWith("model.tokenizer"));
    TrainConfigFile.set(tree, "data.data_prefix", List.of("one"));
    TrainConfigFile.set(tree, "trainer.compile_cache", "cc");
    TrainConfig single = TrainConfigFile.bind(tree, "defaults").withPathsFrom(dir);
    assertThat(single.data().dataPrefix()).containsExactly("/work/here/one");
    assertThat(single.trainer().compileCache()).isEqualTo("/work/here/cc");
    assertThat(single.withPathsFrom(Path.of("/elsewhere"))).isEqualTo(single);
  }
}
