package dev.cria.train.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.Precision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NemoLayoutTest {
  @TempDir Path tmp;

  /** A NeMo config in the blueprint's shape, small. */
  private static final String SMALL =
      """
      name: megatron_llama
      trainer:
        devices: 1
        num_nodes: 1
        accelerator: tpu
        precision: 32
        max_epochs: -1
        max_steps: 50
        log_every_n_steps: 5
        val_check_interval: 25
        limit_val_batches: 2
        accumulate_grad_batches: 1
        gradient_clip_val: 0.5
      exp_manager:
        explicit_log_dir: runs/nemo
        resume_if_exists: True
        create_checkpoint_callback: True
        checkpoint_callback_params:
          monitor: step
          save_top_k: 3
          model_parallel_size: ${multiply:${model.tensor_model_parallel_size}, ${model.pipeline_model_parallel_size}}
      model:
        micro_batch_size: 2
        global_batch_size: 8
        tensor_model_parallel_size: 1
        pipeline_model_parallel_size: 1
        encoder_seq_length: 64
        max_position_embeddings: ${.encoder_seq_length}
        num_layers: 2
        hidden_size: 64
        ffn_hidden_size: 172
        num_attention_heads: 4
        init_method_std: 0.021
        layernorm_epsilon: 1e-6
        hidden_dropout: 0
        normalization: 'rmsnorm'
        activation: 'swiglu'
        sequence_parallel: True
        seed: 99
        tokenizer:
          library: 'huggingface'
          type: /models/llama2
        data:
          data_prefix: [0.3, /data/a_text_document, 0.7, /data/b_text_document]
          splits_string: 980,10,10
          seq_length: ${model.encoder_seq_length}
          train_ds:
            file_names: [/path/to/file.jsonl]
        optim:
          name: adamw
          lr: 3e-4
          weight_decay: 0.1
          betas: [0.9, 0.95]
          sched:
            name: CosineAnnealing
            warmup_steps: 5
            constant_steps: 10
            min_lr: 3e-5
      """;

  private ConfigLayers layers(String yaml, String... assignments) throws IOException {
    Path file = tmp.resolve("nemo-" + System.nanoTime() + ".yaml");
    Files.writeString(file, yaml);
    return ConfigLayers.merge(null, file, List.of(assignments), Map.of());
  }

  @Test
  void nemosLayoutIsReadKeyByKeyWithItsInterpolations() throws IOException {
    ConfigLayers layers = layers(SMALL);
    assertThat(layers.nemo()).isTrue();
    TrainConfig c = layers.bind();
    assertThat(c.runDir()).isEqualTo("runs/nemo");
    assertThat(c.trainer())
        .isEqualTo(
            new TrainConfig.Trainer(2, 8, 50, 99, 25, 2, 5, 0, "auto", null, true, Precision.FP32));
    assertThat(c.model().maxPositionEmbeddings()).isEqualTo(64);
    assertThat(c.model().numQueryGroups()).isEqualTo(4); // NeMo: as many as heads when absent
    assertThat(c.model().initMethodStd()).isEqualTo(0.021);
    assertThat(c.model().layernormEpsilon()).isEqualTo(1e-6);
    assertThat(c.model().tokenizer()).isEqualTo("/models/llama2");
    assertThat(c.data().dataPrefix())
        .containsExactly("0.3", "/data/a_text_document", "0.7", "/data/b_text_document");
    assertThat(c.data().seqLength()).isEqualTo(64);
    assertThat(c.data().split()).isEqualTo("980,10,10");
    assertThat(c.optim())
        .isEqualTo(new TrainConfig.Optim(3e-4, 3e-5, 5, 10, 0.1, 0.9, 0.95, 1e-8, 0.5));
    assertThat(c.checkpoint().keepLast()).isEqualTo(3);
    assertThat(layers.notes())
        .containsExactly(
            "no effect in cria, process layout (the world size comes from --nproc, mpirun or the"
                + " MPIJob): trainer.devices, trainer.num_nodes",
            "no effect in cria, Neuron/XLA switches: trainer.accelerator");
    assertThat(c.distributed().sequenceParallel()).as("model.sequence_parallel").isTrue();
  }

  @Test
  void whatCriaDoesNotDoIsRefusedWithTheReasonAndEveryMistakeAtOnce() throws IOException {
    String four =
        SMALL
            .replace("pipeline_model_parallel_size: 1", "pipeline_model_parallel_size: 2")
            .replace("hidden_dropout: 0", "hidden_dropout: 0.1")
            .replace("micro_batch_size: 2", "micro_batch_size: two")
            .replace("seed: 99", "seed: 99\n  use_magic: true");
    assertThatThrownBy(() -> layers(four).bind())
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("4 mistakes in the config:")
        .hasMessageContaining(
            "model.pipeline_model_parallel_size: 2: cria has data and tensor parallelism;"
                + " pipeline parallelism is not built yet: use 1")
        .hasMessageContaining("model.hidden_dropout: 0.1: cria has no dropout")
        .hasMessageContaining("model.micro_batch_size: 'two': expected an integer")
        .hasMessageContaining("model.use_magic: unknown key");
  }

  @Test
  void tensorModelParallelSizeIsCriasTensorParallelism() throws IOException {
    String eight = SMALL.replace("tensor_model_parallel_size: 1", "tensor_model_parallel_size: 8");
    assertThat(layers(eight).bind().distributed().tensorParallel()).isEqualTo(8);
    assertThat(layers(SMALL).bind().distributed().tensorParallel()).isEqualTo(1);
  }

  @Test
  void fullActivationCheckpointingIsCriasRecomputeAndSelectiveHasNoEffect() throws IOException {
    assertThat(layers(SMALL).bind().model().recompute()).isFalse();
    assertThat(
            layers(SMALL, "++model.activations_checkpoint_granularity=full")
                .bind()
                .model()
                .recompute())
        .isTrue();
    ConfigLayers selective = layers(SMALL, "++model.activations_checkpoint_granularity=selective");
    assertThat(selective.bind().model().recompute()).isFalse();
    assertThat(selective.notes())
        .anyMatch(l ->
            l.startsWith("no effect in cria, memory and kernel switches")
                && l.contains("model.activations_checkpoint_granularity"));
    assertThatThrownBy(
            () -> layers(SMALL, "++model.activations_checkpoint_granularity=most").bind())
        .hasMessageContaining(
            "model.activations_checkpoint_granularity: 'most': expected full, selective or null");
  }

  /** train_setup.sh's training_precision cases, as test_llama.sh passes them (precision 32). */
  private ConfigLayers blueprintCase(String amp, String zero, String master, String accumulate)
      throws IOException {
    return layers(
        SMALL,
        "++model.megatron_amp_O2=" + amp,
        "++model.wrap_with_zero=" + zero,
        "++model.zero_use_master_weight=" + master,
        "++model.zero_use_fp32_grad_accum=" + accumulate);
  }

  @Test
  void theBlueprintsTrainingPrecisionCasesChooseCriasPrecision() throws IOException {
    // bf16SR and fp32: every switch off, trainer.precision 32: fp32 (the blueprint tells the two
    // apart by environment variables, XLA_USE_BF16=1, that no config carries: bf16SR is cria's
    // trainer.precision: bf16-sr, set by the user)
    ConfigLayers off = blueprintCase("false", "false", "false", "false");
    assertThat(off.bind().trainer().precision()).isEqualTo(Precision.FP32);
    assertThat(off.notes()).noneMatch(l -> l.startsWith("applied in cria"));
    // megatron_amp_O2: fp32 master weights and optimizer states, bf16 model weights
    ConfigLayers o2 = blueprintCase("true", "false", "false", "false");
    assertThat(o2.bind().trainer().precision()).isEqualTo(Precision.BF16_MIXED);
    assertThat(o2.notes())
        .contains(
            "applied in cria, model.megatron_amp_O2: true as trainer.precision: bf16-mixed (bf16"
                + " compute copies of the weights, fp32 master weights, gradients and optimizer"
                + " states)")
        .anyMatch(l ->
            l.startsWith(
                "applied in cria, model.zero_use_fp32_grad_accum: false: cria accumulates"
                    + " and reduces gradients in fp32"));
    // fp32_ZeroOptMasterGradAcc: ZeRO-1 with fp32 master weights and fp32 gradient accumulation
    ConfigLayers zero = blueprintCase("false", "true", "true", "true");
    TrainConfig c = zero.bind();
    assertThat(c.trainer().precision()).isEqualTo(Precision.BF16_MIXED);
    assertThat(c.distributed().zeroStage()).isEqualTo(1);
    assertThat(zero.notes())
        .contains(
            "applied in cria, model.wrap_with_zero: true as distributed.zero_stage: 1 (ZeRO-1,"
                + " AdamW's state sharded across ranks)",
            "applied in cria, model.zero_use_fp32_grad_accum: true: what cria does (gradients"
                + " accumulate in fp32)");
    // a stage cria's own key chose stays: ZeRO-2 shards what ZeRO-1 does, and more
    assertThat(
            layers(SMALL, "++model.wrap_with_zero=true", "++cria.zero_stage=2")
                .bind()
                .distributed()
                .zeroStage())
        .isEqualTo(2);
    assertThatThrownBy(() -> blueprintCase("false", "false", "true", "false").bind())
        .hasMessageContaining(
            "model.zero_use_master_weight: true: sharded master weights need"
                + " model.wrap_with_zero: true");
  }

  @Test
  void noCheckpointCallbackMeansNoPeriodicSavesWhateverItsParamsSay() throws IOException {
    TrainConfig c =
        layers(
                SMALL,
                "exp_manager.create_checkpoint_callback=False",
                "+exp_manager.checkpoint_callback_params.every_n_train_steps=200",
                "+exp_manager.checkpoint_callback_params.train_time_interval=3600")
            .bind();
    assertThat(c.checkpoint().saveInterval()).isZero();
    assertThat(c.checkpoint().saveIntervalMinutes()).isZero();
  }

  @Test
  void oddValuesAreRefusedWithTheKeyNotThrown() throws IOException {
    assertThatThrownBy(() -> layers(SMALL, "+model.kv_channels=auto").bind())
        .hasMessageContaining("model.kv_channels: 'auto': cria's head size is");
    assertThatThrownBy(
            () -> layers(SMALL, "model.data.data_prefix={train:[1.0,/a],validation:[/b]}").bind())
        .hasMessageContaining("cria splits one blend by splits_string");
    assertThatThrownBy(() -> layers(SMALL, "model.optim.lr=nan").bind())
        .hasMessageContaining("optim.lr");
    // null is cria's default where its key has one, and a mistake where it has none
    assertThat(layers(SMALL, "model.ffn_hidden_size=null").bind().model().ffnHiddenSize()).isNull();
    assertThatThrownBy(() -> layers(SMALL, "trainer.max_steps=null").bind())
        .hasMessageContaining("trainer.max_steps (cria's trainer.max_steps): is required");
  }

  @Test
  void checksOfCriasOwnNameTheNemoKey() throws IOException {
    assertThatThrownBy(() -> layers(SMALL, "model.micro_batch_size=0").bind())
        .hasMessageContaining(
            "model.micro_batch_size (cria's trainer.micro_batch_size): must be between 1 and");
  }

  @Test
  void aRuleAcrossKeysNamesEachByTheFilesName() throws IOException {
    assertThatThrownBy(() -> layers(SMALL, "model.optim.sched.warmup_steps=45").bind())
        .hasMessageContaining(
            ": model.optim.sched.warmup_steps 45 and model.optim.sched.constant_steps 10 must"
                + " leave steps to decay in before trainer.max_steps 50")
        .hasMessageNotContaining(" optim.warmup_steps");
    assertThatThrownBy(() -> layers(SMALL, "model.optim.sched.min_lr=1e-3").bind())
        .hasMessageContaining(": model.optim.sched.min_lr 0.001 is above model.optim.lr 3.0E-4");
  }

  @Test
  void theResolvedConfigPrintedInNemosLayoutReadsBackToTheSameRun() throws IOException {
    TrainConfig c = layers(SMALL).bind();
    String printed = NemoRender.toYaml(c, List.of("a note"));
    assertThat(printed).startsWith("# the resolved config in NeMo's layout").contains("# a note");
    ConfigLayers again = layers(printed);
    assertThat(again.notes()).isEmpty();
    assertThat(again.bind()).isEqualTo(c);
    // a cria config with a preset prints the preset's sizes and reads back to the same model
    ConfigLayers cria =
        ConfigLayers.merge(
            null,
            null,
            List.of(),
            Map.of(
                "data.data_prefix",
                List.of("/data/x_text_document"),
                "model.preset",
                "small",
                "trainer.compile_cache",
                "/shared/compile-cache",
                "trainer.use_compile_cache",
                false));
    TrainConfig small = cria.bind();
    assertThat(small.trainer().compileCache()).isEqualTo("/shared/compile-cache");
    assertThat(small.trainer().useCompileCache()).isFalse();
    TrainConfig back = layers(NemoRender.toYaml(small, List.of())).bind();
    LlamaConfig shape = ModelShape.of(small.model(), null);
    assertThat(ModelShape.of(back.model(), null)).isEqualTo(shape);
    assertThat(back.optim()).isEqualTo(small.optim());
    assertThat(back.trainer()).isEqualTo(small.trainer());
    assertThat(back.checkpoint()).isEqualTo(small.checkpoint());
  }

  @Test
  void aRequiredKeyLeftUnsetIsSatisfiedByTheFlagThatSetsItsCriaKey() throws IOException {
    String unset =
        SMALL.replace(
            "data_prefix: [0.3, /data/a_text_document, 0.7, /data/b_text_document]",
            "data_prefix: ???");
    assertThat(unset).contains("data_prefix: ???");
    Path file = tmp.resolve("nemo-unset.yaml");
    Files.writeString(file, unset);
    assertThatThrownBy(() -> ConfigLayers.merge(null, file, List.of(), Map.of()).bind())
        .hasMessageContaining(
            file + ": model.data.data_prefix: is required (??? in the config: give it a value)");
    TrainConfig c =
        ConfigLayers.merge(
                null, file, List.of(), Map.of("data.data_prefix", List.of("/data/x_text_document")))
            .bind();
    assertThat(c.data().dataPrefix()).containsExactly("/data/x_text_document");
    // an override of the NeMo key itself still works
    assertThat(
            ConfigLayers.merge(
                    null, file, List.of("model.data.data_prefix=[/data/y_text_document]"), Map.of())
                .bind()
                .data()
                .dataPrefix())
        .containsExactly("/data/y_text_document");
  }

  @Test
  void hydraOverridesOnCriasOwnLayoutToo() {
    ConfigLayers cria =
        ConfigLayers.merge(
            null,
            null,
            List.of("optim.lr=5e-4", "trainer.max_stepz=3"),
            Map.of("data.data_prefix", List.of("/data/x_text_document")));
    assertThat(cria.nemo()).isFalse();
    assertThatThrownBy(cria::bind)
        .hasMessage(
            "override 'trainer.max_stepz=3': trainer.max_stepz is not in the config; did you mean"
                + " trainer.max_steps? (write trainer.max_steps=3; to add a new key,"
                + " +trainer.max_stepz=3)");
    TrainConfig c =
        ConfigLayers.merge(
                null,
                null,
                List.of("optim.lr=5e-4"),
                Map.of("data.data_prefix", List.of("/data/x_text_document")))
            .bind();
    assertThat(c.optim().lr()).isEqualTo(5e-4);
  }
}
