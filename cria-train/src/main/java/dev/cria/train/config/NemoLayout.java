package dev.cria.train.config;

import dev.cria.engine.model.Precision;
import dev.cria.engine.tensor.DType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * NeMo's Megatron GPT config ({@code megatron_llama_config.yaml}: {@code trainer}, {@code
 * exp_manager}, {@code model} with {@code model.data}, {@code model.optim}, {@code
 * model.optim.sched}, {@code model.tokenizer}) read into cria's config. Every key of NeMo's file
 * has a rule here: it is applied (mapped onto cria's key), accepted because its value is what cria
 * does, accepted and reported once as having no effect in cria (a Neuron, XLA or GPU switch that
 * does not change what is computed), or refused with the reason when it asks for something cria
 * does not do. A key without a rule is refused as unknown. {@link NemoRender} writes the other way.
 *
 * <p>This file is long because it is one table: a rule for each of the 150-odd keys of NeMo's
 * config and the reader that applies them, kept together so that what becomes of a key is found in
 * one place.
 */
final class NemoLayout {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  /** The reasons a key has no effect, as reported. */
  static final String NEURON = "Neuron/XLA switches";

  static final String KERNELS =
      "memory and kernel switches (cria computes the same result its own way)";
  static final String PROCESSES =
      "process layout (the world size comes from --nproc, mpirun or the MPIJob)";
  static final String HOUSEKEEPING = "logging and housekeeping that cria does its own way";
  static final String PRECISION =
      "fp16/bf16 switches (trainer.precision decides: 32; bf16-mixed, with fp32 master weights,"
          + " gradients and optimizer states; or bf16-sr, with stochastic rounding)";

  private static final String MASTER_WEIGHTS =
      "bf16 compute copies of the weights, fp32 master weights, gradients and optimizer states";

  private static final JsonNode BF16_MIXED = NODES.stringNode(Precision.BF16_MIXED.text());

  private NemoLayout() {}

  /**
   * What a NeMo config became.
   *
   * @param tree cria's keys, to merge over the defaults
   * @param notes the keys that have no effect, a line per reason, for the console
   * @param origins cria's key to the NeMo key it came from, to name that key in errors
   */
  /**
   * A NeMo config in cria's keys: the tree, the notes to print, where each cria key came from, and
   * the NeMo keys left {@code ???} (required: a flag may still give the cria key they map to).
   */
  record Translation(
      ObjectNode tree, List<String> notes, Map<String, String> origins, List<String> required) {}

  /** Whether {@code tree} is in NeMo's layout rather than cria's. */
  static boolean isNemo(ObjectNode tree) {
    if (tree.has("exp_manager") || tree.has("restore_from_path")) {
      return true;
    }
    JsonNode model = tree.get("model");
    if (!(model instanceof ObjectNode m)) {
      return false;
    }
    for (String key : List.of("optim", "data", "micro_batch_size", "global_batch_size")) {
      if (m.has(key)) {
        return true;
      }
    }
    return m.get("tokenizer") instanceof ObjectNode;
  }

  /** Reads {@code nemo} (overrides applied); mistakes go to {@code problems}. */
  static Translation read(ObjectNode nemo, String source, Problems problems) {
    Reader r = new Reader(nemo, source, problems);
    r.run();
    return new Translation(r.out, r.notes(), r.origins, List.copyOf(r.required));
  }

  /** One rule: what a key's value does. */
  @FunctionalInterface
  private interface Rule {
    void apply(Reader r, String key);
  }

  private static final Map<String, Rule> RULES = new LinkedHashMap<>();

  /** Subtrees accepted as a whole: the rule of the longest matching prefix applies. */
  private static final Map<String, Rule> SUBTREES = new LinkedHashMap<>();

  private static void rule(String key, Rule rule) {
    RULES.put(key, rule);
  }

  /** Mapped onto cria's {@code target}, converted and checked by {@code kind}. */
  private static Rule to(String target, NemoValues.Kind kind) {
    return (r, key) -> r.map(key, target, kind);
  }

  /** Accepted when the value passes {@code ok} (it is what cria does); refused otherwise. */
  private static Rule same(Predicate<JsonNode> ok, String refusal) {
    return (r, key) -> {
      JsonNode v = r.value(key);
      if (v != null && !ok.test(v)) {
        r.refuse(key, v, refusal);
      }
    };
  }

  /** No effect in cria; reported under {@code reason} when it is switched on. */
  private static Rule inert(String reason) {
    return (r, key) -> {
      JsonNode v = r.nemo(key);
      if (NemoValues.isOn(v)) {
        r.note(reason, key);
      }
    };
  }

  /** No effect in cria and nothing worth reporting (settings of other tools and modes). */
  private static final Rule SILENT = (r, key) -> {};

  private static Predicate<JsonNode> off() {
    return v -> !NemoValues.isOn(v);
  }

  private static Predicate<JsonNode> isValue(Object... allowed) {
    return v -> {
      for (Object a : allowed) {
        if (a == null ? v.isNull() : NemoValues.text(v).equalsIgnoreCase(a.toString())) {
          return true;
        }
      }
      return false;
    };
  }

  static {
    // top level
    rule("name", SILENT); // the experiment's name; cria names a run by its directory
    rule(
        "restore_from_path",
        same(
            JsonNode::isNull,
            ".nemo files are not read: convert the model"
                + " to Hugging Face and start from it with --init-from"));
    rule("enable_recovery_time_instrumentation", inert(HOUSEKEEPING));
    rule("async_checkpointing", to("checkpoint.async_save", NemoValues.Kind.BOOL));
    rule("enable_checkpoint_removal_protection", SILENT); // cria's saves always protect the last
    rule("cria.preset", to("model.preset", NemoValues.Kind.TEXT));
    rule("cria.threads", to("trainer.threads", NemoValues.Kind.INT));
    rule("cria.backend", to("trainer.backend", NemoValues.Kind.TEXT));
    rule("cria.compile_cache", to("trainer.compile_cache", NemoValues.Kind.TEXT));
    rule("cria.use_compile_cache", to("trainer.use_compile_cache", NemoValues.Kind.BOOL));
    rule("cria.zero_stage", to("distributed.zero_stage", NemoValues.Kind.INT));
    rule("cria.bucket_cap_mb", to("distributed.bucket_cap_mb", NemoValues.Kind.NUMBER));
    rule("cria.heartbeat_seconds", to("distributed.heartbeat_seconds", NemoValues.Kind.NUMBER));

    // trainer
    rule("trainer.devices", inert(PROCESSES));
    rule("trainer.num_nodes", inert(PROCESSES));
    rule("trainer.accelerator", inert(NEURON));
    rule(
        "trainer.precision",
        (r, key) -> {
          JsonNode v = r.value(key);
          if (v != null && !v.isNull()) {
            try {
              Precision.parse(NemoValues.text(v));
            } catch (IllegalArgumentException e) {
              r.refuse(key, v, e.getMessage());
              return;
            }
          }
          r.map(key, "trainer.precision", NemoValues.Kind.TEXT);
        });
    for (String k :
        List.of(
            "logger",
            "enable_checkpointing",
            "replace_sampler_ddp",
            "benchmark",
            "enable_model_summary")) {
      rule("trainer." + k, SILENT); // Lightning's own switches
    }
    rule(
        "trainer.max_epochs",
        same(
            isValue(null, -1),
            "cria trains for trainer.max_steps; set" + " max_epochs to null or -1"));
    rule("trainer.max_steps", to("trainer.max_steps", NemoValues.Kind.INT));
    rule("trainer.log_every_n_steps", to("trainer.log_every_n_steps", NemoValues.Kind.INT));
    rule("trainer.val_check_interval", to("trainer.val_check_interval", NemoValues.Kind.INT));
    rule("trainer.limit_val_batches", to("trainer.limit_val_batches", NemoValues.Kind.INT));
    rule("trainer.limit_test_batches", inert(HOUSEKEEPING)); // cria eval tests
    rule(
        "trainer.accumulate_grad_batches",
        same(
            isValue(1),
            "gradient accumulation follows from"
                + " global_batch_size / (micro_batch_size x data-parallel size), as in NeMo; leave it 1"));
    rule(
        "trainer.gradient_clip_val",
        (r, key) -> {
          JsonNode v = r.value(key);
          r.set(
              key,
              "optim.clip_grad",
              v == null || v.isNull() ? NODES.numberNode(0.0) : v,
              NemoValues.Kind.NUMBER);
        });

    // exp_manager
    rule(
        "exp_manager.explicit_log_dir",
        (r, key) -> {
          JsonNode v = r.value(key);
          if (v != null && !v.isNull()) {
            r.set(key, "run_dir", v, NemoValues.Kind.TEXT);
          }
        });
    rule(
        "exp_manager.exp_dir",
        (r, key) -> {
          JsonNode dir = r.value(key);
          JsonNode explicit = r.value("exp_manager.explicit_log_dir");
          if (dir != null && !dir.isNull() && (explicit == null || explicit.isNull())) {
            JsonNode name = r.value("exp_manager.name");
            String runDir =
                NemoValues.text(dir)
                    + (name == null || name.isNull() ? "" : "/" + NemoValues.text(name));
            r.set(key, "run_dir", NODES.textNode(runDir), NemoValues.Kind.TEXT);
          }
        });
    rule("exp_manager.name", SILENT); // with exp_dir, the run directory's last part
    rule("exp_manager.log_local_rank_0_only", inert(HOUSEKEEPING)); // every rank writes its log
    rule("exp_manager.create_tensorboard_logger", SILENT); // cria always writes events
    rule(
        "exp_manager.create_wandb_logger",
        same(
            off(),
            "cria does not log to Weights & Biases;"
                + " its TensorBoard events, cria top and cria board show the run"));
    SUBTREES.put("exp_manager.wandb_logger_kwargs.", SILENT);
    rule(
        "exp_manager.resume_if_exists",
        (r, key) -> {
          JsonNode v = r.value(key);
          if (v != null && !NemoValues.isOn(v)) {
            r.note(
                "resuming (cria continues a run directory that holds a run; --no-resume refuses"
                    + " one, --overwrite replaces it)",
                key);
          }
        });
    rule("exp_manager.resume_ignore_no_checkpoint", SILENT); // cria starts fresh without one
    rule(
        "exp_manager.create_checkpoint_callback",
        (r, key) -> {
          JsonNode v = r.value(key);
          if (v != null && !NemoValues.isOn(v)) { // only the final and the stop checkpoints
            r.set(key, "checkpoint.save_interval", NODES.numberNode(0), NemoValues.Kind.INT);
            r.set(
                key,
                "checkpoint.save_interval_minutes",
                NODES.numberNode(0),
                NemoValues.Kind.NUMBER);
          }
        });
    String ckpt = "exp_manager.checkpoint_callback_params.";
    for (String k :
        List.of(
            "monitor",
            "mode",
            "save_last",
            "always_save_nemo",
            "save_nemo_on_train_end",
            "filename",
            "model_parallel_size",
            "save_weights_only")) {
      rule(ckpt + k, SILENT); // cria's checkpoints are <run>/checkpoints/step-N
    }
    rule(
        ckpt + "save_top_k",
        (r, key) -> {
          JsonNode v = r.value(key);
          if (v == null || v.isNull()) {
            return;
          }
          Long k = NemoValues.asLong(v);
          if (k == null || (k < 1 && k != -1)) {
            r.refuse(key, v, "cria keeps the newest K checkpoints: give K >= 1, or -1 for all");
            return;
          }
          r.set(
              key,
              "checkpoint.keep_last",
              NODES.numberNode(k == -1 ? 1 << 20 : k),
              NemoValues.Kind.INT);
        });
    rule(
        ckpt + "every_n_train_steps",
        (r, key) -> {
          if (r.checkpointsOff()) {
            return; // create_checkpoint_callback: false saves only at the end and on stop
          }
          JsonNode v = r.value(key);
          r.set(
              key,
              "checkpoint.save_interval",
              v == null || v.isNull() ? NODES.numberNode(0) : v,
              NemoValues.Kind.INT);
        });
    rule(
        ckpt + "train_time_interval",
        (r, key) -> {
          if (r.checkpointsOff()) {
            return; // create_checkpoint_callback: false saves only at the end and on stop
          }
          JsonNode v = r.value(key);
          if (v == null || v.isNull()) {
            r.set(
                key,
                "checkpoint.save_interval_minutes",
                NODES.numberNode(0.0),
                NemoValues.Kind.NUMBER);
            return;
          }
          Double seconds = NemoValues.asDouble(v);
          if (seconds == null || seconds < 0) {
            r.refuse(key, v, "expected seconds between checkpoints");
            return;
          }
          r.set(
              key,
              "checkpoint.save_interval_minutes",
              NODES.numberNode(seconds / 60),
              NemoValues.Kind.NUMBER);
        });
    rule(ckpt + "every_n_epochs", same(JsonNode::isNull, "cria saves by steps or time"));

    // model: batch and parallelism
    rule("model.micro_batch_size", to("trainer.micro_batch_size", NemoValues.Kind.INT));
    rule("model.global_batch_size", to("trainer.global_batch_size", NemoValues.Kind.INT));
    rule(
        "model.tensor_model_parallel_size", to("distributed.tensor_parallel", NemoValues.Kind.INT));
    rule(
        "model.pipeline_model_parallel_size",
        same(
            isValue(1),
            "cria has data and tensor parallelism;"
                + " pipeline parallelism is not built yet: use 1"));
    rule(
        "model.virtual_pipeline_model_parallel_size",
        same(JsonNode::isNull, "cria has no pipeline parallelism"));
    rule(
        "model.flexible_pipeline_parallel_stages",
        same(JsonNode::isNull, "cria has no pipeline parallelism"));
    rule("model.sequence_parallel", to("distributed.sequence_parallel", NemoValues.Kind.BOOL));

    // model: architecture
    rule(
        "model.encoder_seq_length",
        (r, key) -> {
          JsonNode v = r.value(key);
          JsonNode data = r.value("model.data.seq_length");
          if (data == null || data.isNull()) {
            r.map(key, "data.seq_length", NemoValues.Kind.INT);
          } else if (v != null && !NemoValues.text(v).equals(NemoValues.text(data))) {
            r.refuse(
                key,
                v,
                "cria trains at one sequence length: model.data.seq_length is "
                    + NemoValues.text(data));
          }
        });
    rule("model.max_position_embeddings", to("model.max_position_embeddings", NemoValues.Kind.INT));
    rule("model.num_layers", to("model.num_layers", NemoValues.Kind.INT));
    rule("model.hidden_size", to("model.hidden_size", NemoValues.Kind.INT));
    rule("model.ffn_hidden_size", to("model.ffn_hidden_size", NemoValues.Kind.INT));
    rule(
        "model.num_attention_heads",
        (r, key) -> {
          r.map(key, "model.num_attention_heads", NemoValues.Kind.INT);
          JsonNode groups = r.value("model.num_query_groups");
          if (groups == null || groups.isNull()) { // NeMo: as many key/value heads as heads
            r.map(key, "model.num_query_groups", NemoValues.Kind.INT);
          }
        });
    rule(
        "model.num_query_groups",
        (r, key) -> {
          JsonNode v = r.value(key);
          if (v != null && !v.isNull()) {
            r.map(key, "model.num_query_groups", NemoValues.Kind.INT);
          }
        });
    rule(
        "model.kv_channels",
        (r, key) -> {
          JsonNode v = r.value(key);
          Long hidden = NemoValues.asLong(r.value("model.hidden_size"));
          Long heads = NemoValues.asLong(r.value("model.num_attention_heads"));
          if (v != null
              && !v.isNull()
              && !(hidden != null
                  && heads != null
                  && heads > 0
                  && Long.valueOf(hidden / heads).equals(NemoValues.asLong(v)))) {
            r.refuse(key, v, "cria's head size is hidden_size / num_attention_heads; use null");
          }
        });
    rule("model.init_method_std", to("model.init_method_std", NemoValues.Kind.NUMBER));
    rule("model.use_scaled_init_method", to("model.use_scaled_init_method", NemoValues.Kind.BOOL));
    // full: cria's recompute (each layer's input kept, the rest recomputed); selective has no
    // counterpart in cria's kernels (attention's scores are never kept anyway)
    rule(
        "model.activations_checkpoint_granularity",
        (r, key) -> {
          JsonNode v = r.value(key);
          if (v == null || v.isNull() || NemoValues.text(v).equalsIgnoreCase("selective")) {
            if (v != null && !v.isNull()) {
              r.note(KERNELS, key);
            }
            return;
          }
          if (!NemoValues.text(v).equalsIgnoreCase("full")) {
            r.refuse(key, v, "expected full, selective or null");
            return;
          }
          r.set(key, "model.recompute", NODES.booleanNode(true), NemoValues.Kind.BOOL);
        });
    rule("model.layernorm_epsilon", to("model.layernorm_epsilon", NemoValues.Kind.NUMBER));
    rule("model.rotary_base", to("model.rotary_base", NemoValues.Kind.NUMBER));
    for (String k : List.of("hidden_dropout", "attention_dropout", "ffn_dropout")) {
      rule(
          "model." + k,
          same(
              v -> NemoValues.asDouble(v) != null && NemoValues.asDouble(v) == 0,
              "cria has no dropout (Llama pretraining uses none); use 0"));
    }
    rule("model.apply_query_key_layer_scaling", inert(PRECISION)); // the same softmax in fp32
    rule("model.normalization", same(isValue("rmsnorm"), "cria's Llama uses RMSNorm"));
    rule("model.do_layer_norm_weight_decay", same(off(), "cria does not decay norm weights"));
    rule(
        "model.make_vocab_size_divisible_by",
        inert(
            "vocabulary padding (cria sizes the"
                + " embedding to the tokenizer's vocabulary; Llama-2's 32000 needs no padding)"));
    rule("model.pre_process", same(isValue(true), "cria has no pipeline stages"));
    rule("model.post_process", same(isValue(true), "cria has no pipeline stages"));
    rule(
        "model.share_embeddings_and_output_weights",
        same(off(), "cria's Llama has separate" + " input and output embeddings"));
    rule("model.position_embedding_type", same(isValue("rope"), "cria's Llama uses RoPE"));
    rule(
        "model.rotary_percentage",
        same(
            v -> NemoValues.asDouble(v) != null && NemoValues.asDouble(v) == 1,
            "cria rotates the whole head (1.0)"));
    rule("model.activation", same(isValue("swiglu"), "cria's Llama uses SwiGLU"));
    rule("model.transformer_block_type", same(isValue("pre_ln"), "cria's Llama is pre-norm"));
    rule("model.has_bias", same(off(), "cria's Llama has no biases"));
    rule("model.seed", to("trainer.seed", NemoValues.Kind.INT));
    rule(
        "model.resume_from_checkpoint",
        same(
            JsonNode::isNull,
            "cria resumes from its own" + " checkpoints: --resume-from <run>/checkpoints/step-N"));

    // model: precision, fusions, memory
    for (String k : List.of("native_amp_init_scale", "native_amp_growth_interval", "hysteresis")) {
      rule("model." + k, SILENT); // loss scaling, used in fp16 only
    }
    for (String k : List.of("fp32_residual_connection", "fp16_lm_cross_entropy")) {
      rule("model." + k, inert(PRECISION));
    }
    // The blueprint chooses its precision with these (train_setup.sh's training_precision cases,
    // with trainer.precision=32 and Neuron's XLA_DOWNCAST_BF16): megatron_amp_O2 and
    // zero_use_master_weight keep fp32 master weights and optimizer states beside bf16 model
    // weights, which is cria's bf16-mixed; wrap_with_zero is ZeRO-1, cria's default stage.
    rule(
        "model.megatron_amp_O2",
        (r, key) -> {
          if (r.switchedOn(key)) {
            r.apply(key, "trainer.precision", BF16_MIXED, NemoValues.Kind.TEXT, MASTER_WEIGHTS);
          }
        });
    rule(
        "model.wrap_with_zero",
        (r, key) -> {
          // a stage cria.zero_stage chose (ZeRO-2 shards as ZeRO-1 does, and more) stays
          if (r.switchedOn(key) && !r.out.path("distributed").has("zero_stage")) {
            r.apply(
                key,
                "distributed.zero_stage",
                NODES.numberNode(1),
                NemoValues.Kind.INT,
                "ZeRO-1, AdamW's state sharded across ranks");
          }
        });
    rule(
        "model.zero_use_master_weight",
        (r, key) -> {
          if (!r.switchedOn(key)) {
            return;
          }
          if (!r.switchedOn("model.wrap_with_zero")) {
            r.refuse(key, r.value(key), "sharded master weights need model.wrap_with_zero: true");
            return;
          }
          r.apply(key, "trainer.precision", BF16_MIXED, NemoValues.Kind.TEXT, MASTER_WEIGHTS);
        });
    rule(
        "model.zero_use_fp32_grad_accum",
        (r, key) -> {
          if (r.switchedOn(key)) {
            r.applied.add(key + ": true: what cria does (gradients accumulate in fp32)");
          } else if (r.value(key) != null && r.computesInBf16()) {
            r.applied.add(
                key
                    + ": false: cria accumulates and reduces gradients in fp32 in every precision"
                    + " (Megatron's accumulate_allreduce_grads_in_fp32), where Neuron would in"
                    + " bf16");
          }
        });
    for (String k : List.of("transformer_engine", "fp8", "fp8_e4m3", "fp8_hybrid", "use_emha")) {
      rule("model." + k, same(off(), "cria trains in fp32 with its own kernels"));
    }
    for (String k :
        List.of("fp8_margin", "fp8_interval", "fp8_amax_history_len", "fp8_amax_compute_algo")) {
      rule("model." + k, SILENT);
    }
    for (String k :
        List.of(
            "grad_allreduce_chunk_size_mb",
            "grad_div_ar_fusion",
            "gradient_accumulation_fusion",
            "bias_activation_fusion",
            "bias_dropout_add_fusion",
            "masked_softmax_fusion",
            "persist_layer_norm",
            "activations_checkpoint_method",
            "activations_checkpoint_num_layers",
            "num_micro_batches_with_partial_activation_checkpoints",
            "activations_checkpoint_layers_per_pipeline",
            "disable_layer_norm_checkpointing",
            "gradient_as_bucket_view",
            "sync_batch_comm",
            "use_cpu_initialization",
            "use_flash_attention")) {
      rule("model." + k, inert(KERNELS));
    }
    for (String k : List.of("save_xser", "load_xser")) {
      rule("model." + k, inert(NEURON));
    }
    rule("model.onnx_safe", SILENT);
    rule("model.apex_transformer_log_level", SILENT);
    rule("model.log_parameter_norm", SILENT); // cria always logs parameter_norm
    rule("model.log_gradient_norm", SILENT); // and gradient_norm
    rule(
        "model.convert_to_hf",
        same(off(), "cria exports with cria export RUN_OR_CHECKPOINT --output DIR"));
    rule("model.output_dir", SILENT);
    rule("model.config_path", SILENT);
    SUBTREES.put("model.nsys_profile.", SILENT);

    // model.tokenizer
    rule(
        "model.tokenizer.library",
        same(
            isValue("huggingface", "sentencepiece"),
            "cria reads Llama tokenizers: library huggingface (type: a directory or tokenizer.json)"
                + " or sentencepiece (model: tokenizer.model)"));
    rule(
        "model.tokenizer.type",
        (r, key) -> {
          JsonNode library = r.value("model.tokenizer.library");
          JsonNode model = r.value("model.tokenizer.model");
          boolean sentencepiece =
              library != null && NemoValues.text(library).equals("sentencepiece");
          if (!sentencepiece || model == null || model.isNull()) {
            r.map(key, "model.tokenizer", NemoValues.Kind.TEXT);
          }
        });
    rule(
        "model.tokenizer.model",
        (r, key) -> {
          JsonNode v = r.value(key);
          if (v != null && !v.isNull()) {
            r.map(key, "model.tokenizer", NemoValues.Kind.TEXT);
          }
        });
    for (String k : List.of("vocab_file", "merge_file")) {
      rule(
          "model.tokenizer." + k,
          same(
              JsonNode::isNull,
              "cria reads Llama tokenizers"
                  + " (tokenizer.model or tokenizer.json), not GPT-2 vocab and merge files"));
    }
    for (String k : List.of("delimiter", "sentencepiece_legacy", "use_fast")) {
      rule("model.tokenizer." + k, SILENT);
    }

    // model.data
    rule(
        "model.data.data_prefix",
        (r, key) -> {
          r.origins.putIfAbsent("data.data_prefix", key);
          JsonNode v = r.value(key);
          if (v instanceof ObjectNode) {
            r.refuse(
                key,
                v,
                "cria splits one blend by splits_string: give a list of weights and"
                    + " prefixes, not train/validation/test");
            return;
          }
          r.map(key, "data.data_prefix", NemoValues.Kind.PATHS);
        });
    rule("model.data.index_mapping_dir", to("data.index_cache_dir", NemoValues.Kind.TEXT));
    rule("model.data.data_impl", same(isValue("mmap"), "cria reads Megatron's mmap .bin/.idx"));
    rule("model.data.splits_string", to("data.split", NemoValues.Kind.TEXT));
    rule("model.data.seq_length", to("data.seq_length", NemoValues.Kind.INT));
    rule("model.data.skip_warmup", SILENT);
    rule("model.data.num_workers", inert(KERNELS));
    rule(
        "model.data.dataloader_type",
        same(isValue("single"), "cria reads Megatron's single" + " pass order"));
    for (String k :
        List.of(
            "reset_position_ids",
            "reset_attention_mask",
            "eod_mask_loss",
            "no_seqlen_plus_one_input_tokens",
            "pad_samples_to_global_batch_size",
            "fine_tuning",
            "chat")) {
      rule(
          "model.data." + k,
          same(
              off(),
              "not built in cria (it pretrains on packed documents"
                  + " as Megatron's defaults do)"));
    }
    rule("model.data.validation_drop_last", SILENT); // cria validates whole global batches
    for (String k : List.of("train_ds.", "validation_ds.", "test_ds.")) {
      SUBTREES.put("model.data." + k, SILENT); // fine-tuning only
    }

    // model.optim
    rule(
        "model.optim.name",
        same(
            isValue("adamw", "adamw_fp32OptState", "fused_adam"),
            "cria's optimizer is AdamW with fp32 state"));
    rule("model.optim.lr", to("optim.lr", NemoValues.Kind.NUMBER));
    // distributed_fused_adam's bucket size: the same meaning in cria's buckets
    rule("model.optim.bucket_cap_mb", to("distributed.bucket_cap_mb", NemoValues.Kind.NUMBER));
    rule("model.optim.weight_decay", to("optim.weight_decay", NemoValues.Kind.NUMBER));
    rule("model.optim.eps", to("optim.eps", NemoValues.Kind.NUMBER));
    rule("model.optim.capturable", inert(KERNELS));
    rule(
        "model.optim.betas",
        (r, key) -> {
          JsonNode v = r.value(key);
          if (v == null || v.isNull()) {
            return;
          }
          if (!(v instanceof ArrayNode a) || a.size() != 2) {
            r.refuse(key, v, "expected two numbers, [beta1, beta2]");
            return;
          }
          r.set(key, "optim.beta1", a.get(0), NemoValues.Kind.NUMBER);
          r.set(key, "optim.beta2", a.get(1), NemoValues.Kind.NUMBER);
        });
    rule(
        "model.optim.sched.name",
        same(isValue("CosineAnnealing"), "cria's schedule is NeMo's" + " CosineAnnealing"));
    rule("model.optim.sched.warmup_steps", to("optim.warmup_steps", NemoValues.Kind.INT));
    rule(
        "model.optim.sched.warmup_ratio",
        (r, key) -> {
          JsonNode v = r.value(key);
          if (v == null || v.isNull()) {
            return;
          }
          Double ratio = NemoValues.asDouble(v);
          Long steps = NemoValues.asLong(r.value("trainer.max_steps"));
          if (ratio == null || ratio < 0 || ratio >= 1 || steps == null) {
            r.refuse(key, v, "expected a fraction of trainer.max_steps");
            return;
          }
          r.set(
              key,
              "optim.warmup_steps",
              NODES.numberNode((long) (ratio * steps)),
              NemoValues.Kind.INT);
        });
    rule("model.optim.sched.constant_steps", to("optim.constant_steps", NemoValues.Kind.INT));
    rule("model.optim.sched.min_lr", to("optim.min_lr", NemoValues.Kind.NUMBER));
  }

  /** Reads one NeMo tree against {@link #RULES}. */
  private static final class Reader {
    private final ObjectNode nemo;
    private final Interpolations values;
    private final String source;
    private final Problems problems;
    final ObjectNode out = NODES.objectNode();
    final Map<String, String> origins = new LinkedHashMap<>();
    private final Map<String, Set<String>> inert = new LinkedHashMap<>();

    /** Lines for the keys applied as cria settings that are worth saying how. */
    final List<String> applied = new ArrayList<>();

    private final List<String> required = new ArrayList<>();

    Reader(ObjectNode nemo, String source, Problems problems) {
      this.nemo = nemo;
      this.values = new Interpolations(nemo);
      this.source = source;
      this.problems = problems;
    }

    void run() {
      List<String> leaves = new ArrayList<>();
      leaves(nemo, "", leaves);
      for (String key : leaves) {
        Rule rule = RULES.get(key);
        if (rule == null) {
          rule = subtree(key);
        }
        if (rule == null) {
          problems.add(
              source
                  + ": "
                  + key
                  + ": unknown key (not a key of NeMo's Megatron GPT"
                  + " config that cria reads)");
          continue;
        }
        try {
          rule.apply(this, key);
        } catch (Interpolations.Unresolvable e) {
          if (key.equals(e.missing())) {
            required.add(key); // a flag may give it: the layers decide
          } else {
            problems.add(source + ": " + e.getMessage());
          }
        }
      }
    }

    private static Rule subtree(String key) {
      Rule best = null;
      int length = -1;
      for (Map.Entry<String, Rule> e : SUBTREES.entrySet()) {
        if (key.startsWith(e.getKey()) && e.getKey().length() > length) {
          best = e.getValue();
          length = e.getKey().length();
        }
      }
      return best;
    }

    /** The keys of every value (lists are values), in the file's order. */
    private static void leaves(JsonNode node, String prefix, List<String> out) {
      String key = prefix.isEmpty() ? "" : prefix.substring(0, prefix.length() - 1);
      if (node instanceof ObjectNode o
          && (prefix.isEmpty() || !o.isEmpty())
          && !RULES.containsKey(key)) { // a mapping where a rule expects a value is that rule's
        for (Map.Entry<String, JsonNode> e : o.properties()) {
          leaves(e.getValue(), prefix + e.getKey() + ".", out);
        }
      } else {
        out.add(prefix.substring(0, prefix.length() - 1));
      }
    }

    /** Whether {@code exp_manager.create_checkpoint_callback} is switched off. */
    boolean checkpointsOff() {
      JsonNode v = value("exp_manager.create_checkpoint_callback");
      return v != null && !v.isNull() && !NemoValues.isOn(v);
    }

    /** The raw value, interpolations unresolved (for keys that have no effect). */
    JsonNode nemo(String key) {
      JsonNode node = nemo;
      for (String part : key.split("\\.")) {
        node = node == null ? null : node.get(part);
      }
      return node;
    }

    /** The resolved value, or null when absent. */
    JsonNode value(String key) {
      return values.get(key);
    }

    void map(String key, String target, NemoValues.Kind kind) {
      origins.putIfAbsent(target, key); // named in errors, even when the value cannot be read
      JsonNode v = value(key);
      if (v != null) {
        set(key, target, v, kind);
      }
    }

    void set(String key, String target, JsonNode v, NemoValues.Kind kind) {
      JsonNode converted = NemoValues.convert(v, kind);
      if (converted == null) {
        refuse(
            key,
            v,
            "expected "
                + switch (kind) {
                  case INT -> "an integer";
                  case NUMBER -> "a number";
                  case BOOL -> "true or false";
                  case TEXT -> "text";
                  case PATHS -> "a prefix or a list of weights and prefixes";
                });
        return;
      }
      String[] parts = target.split("\\.");
      ObjectNode node = out;
      for (int i = 0; i < parts.length - 1; i++) {
        node = node.has(parts[i]) ? (ObjectNode) node.get(parts[i]) : node.putObject(parts[i]);
      }
      node.set(parts[parts.length - 1], converted);
      origins.putIfAbsent(target, key);
    }

    void refuse(String key, JsonNode v, String why) {
      problems.add(source + ": " + key + ": " + TrainConfigFile.describe(v) + ": " + why);
    }

    /** Whether {@code key}'s resolved value is switched on (true, a non-zero number). */
    boolean switchedOn(String key) {
      return NemoValues.isOn(value(key));
    }

    /** Whether the file asks for bf16 compute, by any of the keys that can. */
    boolean computesInBf16() {
      JsonNode precision = value("trainer.precision");
      boolean bf16 = false;
      if (precision != null && !precision.isNull()) {
        try {
          bf16 = Precision.parse(NemoValues.text(precision)).products() == DType.BF16;
        } catch (IllegalArgumentException e) {
          bf16 = false; // refused by its own rule
        }
      }
      return bf16
          || switchedOn("model.megatron_amp_O2")
          || switchedOn("model.zero_use_master_weight");
    }

    /** Sets cria's {@code target} to {@code value} for {@code key}, saying so with {@code what}. */
    void apply(String key, String target, JsonNode value, NemoValues.Kind kind, String what) {
      set(key, target, value, kind);
      applied.add(
          key
              + ": "
              + TrainConfigFile.describe(value(key))
              + " as "
              + target
              + ": "
              + NemoValues.text(value)
              + " ("
              + what
              + ")");
    }

    void note(String reason, String key) {
      inert.computeIfAbsent(reason, k -> new LinkedHashSet<>()).add(key);
    }

    List<String> notes() {
      List<String> lines = new ArrayList<>();
      applied.forEach(a -> lines.add("applied in cria, " + a));
      inert.forEach((reason, keys) ->
          lines.add("no effect in cria, " + reason + ": " + String.join(", ", keys)));
      return lines;
    }
  }
}
