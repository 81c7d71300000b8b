package dev.cria.train.config;

import dev.cria.engine.model.LlamaConfig;
import java.util.List;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;
import tools.jackson.dataformat.yaml.YAMLMapper;
import tools.jackson.dataformat.yaml.YAMLWriteFeature;

/**
 * A resolved config written in NeMo's layout ({@code cria train --print-config}): the model's
 * actual sizes (the preset resolved), the fixed choices cria makes (fp32, RMSNorm, SwiGLU, RoPE, no
 * biases, TP and PP 1), and cria's own settings in a {@code cria} section. {@link NemoLayout} reads
 * it back to the same run.
 */
public final class NemoRender {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private static final YAMLMapper YAML =
      YAMLMapper.builder()
          .disable(YAMLWriteFeature.WRITE_DOC_START_MARKER)
          .enable(YAMLWriteFeature.MINIMIZE_QUOTES)
          .build();

  private NemoRender() {}

  /** {@code c} in NeMo's layout, as YAML; {@code notes} become comments at the top. */
  public static String toYaml(TrainConfig c, List<String> notes) {
    StringBuilder out = new StringBuilder();
    out.append("# the resolved config in NeMo's layout; cria train --config FILE reads it back\n");
    for (String note : notes) {
      out.append("# ").append(note).append('\n');
    }
    return out.append(YAML.writeValueAsString(toTree(c))).toString();
  }

  /** {@code c} as a tree in NeMo's layout. */
  static ObjectNode toTree(TrainConfig c) {
    LlamaConfig shape = ModelShape.of(c.model(), null);
    TrainConfig.Trainer t = c.trainer();
    TrainConfig.Optim o = c.optim();
    TrainConfig.Checkpoint k = c.checkpoint();
    ObjectNode root = NODES.objectNode();
    root.put("name", "megatron_llama");
    ObjectNode trainer = root.putObject("trainer");
    if (t.precision() == dev.cria.engine.model.Precision.FP32) {
      trainer.put("precision", 32);
    } else {
      trainer.put("precision", t.precision().text());
    }
    trainer.put("max_steps", t.maxSteps());
    trainer.put("log_every_n_steps", t.logEveryNSteps());
    trainer.put("val_check_interval", t.valCheckInterval());
    trainer.put("limit_val_batches", t.limitValBatches());
    trainer.put("gradient_clip_val", o.clipGrad());
    ObjectNode exp = root.putObject("exp_manager");
    exp.put("explicit_log_dir", c.runDir());
    exp.put("create_checkpoint_callback", true);
    ObjectNode params = exp.putObject("checkpoint_callback_params");
    params.put("save_top_k", k.keepLast());
    if (k.saveInterval() > 0) {
      params.put("every_n_train_steps", k.saveInterval());
    } else {
      params.putNull("every_n_train_steps");
    }
    if (k.saveIntervalMinutes() > 0) {
      params.put("train_time_interval", k.saveIntervalMinutes() * 60);
    } else {
      params.putNull("train_time_interval");
    }
    ObjectNode model = root.putObject("model");
    model.put("micro_batch_size", t.microBatchSize());
    model.put("global_batch_size", t.globalBatchSize());
    model.put("tensor_model_parallel_size", c.distributed().tensorParallel());
    model.put("sequence_parallel", c.distributed().sequenceParallel());
    model.put("pipeline_model_parallel_size", 1);
    int seq = c.data().seqLength() > 0 ? c.data().seqLength() : shape.maxSeqLen();
    model.put("encoder_seq_length", seq);
    model.put("max_position_embeddings", shape.maxSeqLen());
    model.put("num_layers", shape.layers());
    model.put("hidden_size", shape.dim());
    model.put("ffn_hidden_size", shape.ffnDim());
    model.put("num_attention_heads", shape.heads());
    model.put("num_query_groups", shape.kvHeads());
    model.put("init_method_std", c.model().initMethodStd());
    model.put("use_scaled_init_method", c.model().useScaledInitMethod());
    if (c.model().recompute()) {
      model.put("activations_checkpoint_granularity", "full");
      model.put("activations_checkpoint_method", "uniform");
      model.put("activations_checkpoint_num_layers", 1);
    } else {
      model.putNull("activations_checkpoint_granularity");
    }
    model.put("normalization", "rmsnorm");
    model.put(
        "layernorm_epsilon",
        c.model().layernormEpsilon() != null
            ? c.model().layernormEpsilon()
            : Double.parseDouble(Float.toString(shape.normEps()))); // 1e-5, not 9.99999e-6
    model.put("position_embedding_type", "rope");
    if (c.model().rotaryBase() != null) {
      model.put("rotary_base", c.model().rotaryBase());
    }
    model.put("activation", "swiglu");
    model.put("has_bias", false);
    model.put("share_embeddings_and_output_weights", false);
    model.put("seed", t.seed());
    ObjectNode tokenizer = model.putObject("tokenizer");
    String path = c.model().tokenizer();
    if (path != null && path.endsWith(".model")) {
      tokenizer.put("library", "sentencepiece");
      tokenizer.put("model", path);
    } else {
      tokenizer.put("library", "huggingface");
      tokenizer.put("type", path);
    }
    ObjectNode data = model.putObject("data");
    ArrayNode prefix = data.putArray("data_prefix");
    for (String p : c.data().dataPrefix()) {
      if (p.matches("[0-9.eE+-]+") && NemoValues.asDouble(NODES.textNode(p)) != null) {
        prefix.add(Double.parseDouble(p)); // a blend weight
      } else {
        prefix.add(p);
      }
    }
    data.put("splits_string", c.data().split());
    data.put("seq_length", seq);
    data.put("index_mapping_dir", c.data().indexCacheDir());
    ObjectNode optim = model.putObject("optim");
    optim.put("name", "adamw");
    optim.put("lr", o.lr());
    optim.put("weight_decay", o.weightDecay());
    ArrayNode betas = optim.putArray("betas");
    betas.add(o.beta1());
    betas.add(o.beta2());
    optim.put("eps", o.eps());
    ObjectNode sched = optim.putObject("sched");
    sched.put("name", "CosineAnnealing");
    sched.put("warmup_steps", o.warmupSteps());
    sched.put("constant_steps", o.constantSteps());
    sched.put("min_lr", o.minLr());
    root.put("async_checkpointing", k.asyncSave());
    ObjectNode cria = root.putObject("cria");
    cria.put("preset", c.model().preset());
    cria.put("threads", t.threads());
    cria.put("backend", t.backend());
    if (t.compileCache() != null) {
      cria.put("compile_cache", t.compileCache());
    }
    cria.put("use_compile_cache", t.useCompileCache());
    cria.put("zero_stage", c.distributed().zeroStage());
    cria.put("bucket_cap_mb", c.distributed().bucketCapMb());
    cria.put("heartbeat_seconds", c.distributed().heartbeatSeconds());
    return root;
  }
}
