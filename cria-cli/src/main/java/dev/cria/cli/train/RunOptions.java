package dev.cria.cli.train;

import dev.cria.train.RunConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The options that shape a run's config, shared as a mixin by every command that resolves one
 * ({@code cria train}, {@code worker}, {@code compile}, {@code k8s render|submit train|compile}):
 * the config file, Hydra-style overrides of its keys, then the flags, which win. Where the run
 * lives and how it starts (here, or on a cluster) are each command's own options.
 */
public final class RunOptions {
  @Option(
      names = "--config",
      paramLabel = "FILE",
      description =
          "YAML config: cria's (sections model, data, trainer, optim, checkpoint, distributed) or"
              + " NeMo's Megatron"
              + " GPT config (trainer, exp_manager, model with data, optim, tokenizer).")
  Path config;

  @Parameters(
      paramLabel = "KEY=VALUE",
      arity = "0..*",
      description =
          "Hydra-style overrides of the config file's keys, after the flags: key=value changes one,"
              + " +key=value adds one, ++key=value sets one either way, ~key removes one"
              + " (optim.lr=3e-4 in cria's config, model.optim.lr=3e-4 in NeMo's;"
              + " model.data.data_prefix=[1.0,/data/x_text_document]).")
  List<String> assignments = new ArrayList<>();

  @Option(
      names = "--save-interval",
      paramLabel = "N",
      description = "Save a checkpoint every N steps (default: 0, off).")
  Long saveInterval;

  @Option(
      names = "--save-interval-minutes",
      paramLabel = "T",
      description = "Save a checkpoint every T minutes of wall clock (default: 30).")
  Double saveIntervalMinutes;

  @Option(names = "--keep-last", paramLabel = "K", description = "Checkpoints kept (default: 2).")
  Integer keepLast;

  @Option(
      names = "--async-save",
      negatable = true,
      paramLabel = "BOOL",
      description =
          "Write periodic checkpoints in the background from a copy in memory (default: off).")
  Boolean asyncSave;

  @Option(
      names = "--preset",
      paramLabel = "NAME",
      description = "Model preset: tiny, small, llama2-7b, llama2-13b, llama2-70b (default: tiny).")
  String preset;

  @Option(
      names = "--tokenizer",
      paramLabel = "PATH",
      description = "The tokenizer that prepared the data; sets the vocabulary.")
  String tokenizer;

  @Option(
      names = "--hidden-size",
      paramLabel = "D",
      description = "Model width (default: the preset's).")
  Integer hiddenSize;

  @Option(
      names = "--layers",
      paramLabel = "L",
      description = "Transformer blocks (default: the preset's).")
  Integer layers;

  @Option(
      names = "--heads",
      paramLabel = "H",
      description = "Attention heads (default: the preset's).")
  Integer heads;

  @Option(
      names = "--kv-heads",
      paramLabel = "G",
      description = "Key/value heads, for grouped-query attention.")
  Integer kvHeads;

  @Option(
      names = "--ffn-size",
      paramLabel = "F",
      description = "MLP hidden size (default: Meta's rule).")
  Integer ffnSize;

  @Option(
      names = "--max-seq-len",
      paramLabel = "T",
      description = "Longest sequence the model accepts.")
  Integer maxSeqLen;

  @Option(
      names = "--data-prefix",
      arity = "1..*",
      paramLabel = "PREFIX",
      description =
          "Dataset prefix (PREFIX.bin/.idx), or weight and prefix pairs to blend: 0.7 A 0.3 B.")
  List<String> dataPrefix;

  @Option(
      names = "--split",
      paramLabel = "TRAIN,VALID,TEST",
      description = "Document split, Megatron's (default: 969,30,1).")
  String split;

  @Option(
      names = "--seq-len",
      paramLabel = "T",
      description = "Tokens per sample (default, or 0: the model's maximum).")
  Integer seqLen;

  @Option(
      names = "--micro-batch",
      paramLabel = "B",
      description = "Samples per forward/backward (default: 4).")
  Integer microBatch;

  @Option(
      names = "--global-batch",
      paramLabel = "G",
      description = "Samples per optimizer step (default: 8).")
  Integer globalBatch;

  @Option(names = "--max-steps", paramLabel = "N", description = "Optimizer steps (default: 100).")
  Long maxSteps;

  @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default: 1e-3).")
  Double lr;

  @Option(
      names = "--min-lr",
      paramLabel = "LR",
      description = "Learning rate at the end of the cosine (default: 1e-4).")
  Double minLr;

  @Option(
      names = "--warmup-steps",
      paramLabel = "N",
      description = "Linear warmup steps (default: 10, or max steps - 1 when that is fewer).")
  Long warmupSteps;

  @Option(
      names = "--weight-decay",
      paramLabel = "W",
      description = "AdamW decoupled weight decay (default: 0.1).")
  Double weightDecay;

  @Option(
      names = "--clip-grad",
      paramLabel = "NORM",
      description = "Global gradient norm limit, 0 for none (default: 1.0).")
  Double clipGrad;

  @Option(
      names = "--seed",
      paramLabel = "N",
      description = "Seed of the initial weights and the sample order (default: 1234).")
  Long seed;

  @Option(
      names = "--val-interval",
      paramLabel = "N",
      description = "Validate every N steps, 0 only at the end (default: 50).")
  Long valInterval;

  @Option(
      names = "--val-batches",
      paramLabel = "N",
      description = "Global batches per validation, 0 for none (default: 4).")
  Integer valBatches;

  @Option(
      names = "--log-interval",
      paramLabel = "N",
      description = "Console line every N steps (default: 10).")
  Long logInterval;

  @Option(
      names = "--threads",
      paramLabel = "N",
      description =
          "Compute threads of each process (default, or 0: all cores, shared among the processes"
              + " of --nproc or of mpirun on one host).")
  Integer threads;

  @Option(
      names = "--precision",
      paramLabel = "P",
      description =
          "What the model computes in: 32; bf16-mixed (the linear layers multiply bf16 copies of"
              + " the weights and inputs; fp32 master weights, gradients and AdamW moments; bf16"
              + " reads as bf16-mixed); or bf16-sr (the blueprint's bf16SR: weights, gradients and"
              + " moments bf16 values, rounded stochastically, no fp32 master copy)"
              + " (trainer.precision; default: 32).")
  String precision;

  @Option(
      names = "--backend",
      paramLabel = "NAME",
      description =
          "Engine backend: auto, cpu, reference (trainer.backend; default: auto, the best available).")
  String backend;

  @Option(
      names = "--compile-cache",
      paramLabel = "DIR",
      description =
          "Where cria compile keeps the kernels it tuned for this machine and the ranks look for"
              + " them (trainer.compile_cache; default: compile-cache beside the run directory).")
  String compileCache;

  @Option(
      names = "--no-compile-cache",
      description =
          "Run the backend's default kernels, ignoring the compile cache"
              + " (trainer.use_compile_cache: false).")
  boolean noCompileCache;

  @Option(
      names = "--recompute",
      negatable = true,
      description =
          "Keep only each layer's input and recompute the rest in the backward pass: less memory"
              + " for activations, a third more compute (model.recompute; default: off).")
  Boolean recompute;

  @Option(
      names = "--zero",
      paramLabel = "STAGE",
      description =
          "With several workers: 1 shards the optimizer state, 2 the gradients too, reduced per"
              + " micro-batch, 3 the parameters as well, gathered a layer at a time as each pass"
              + " reaches it (distributed.zero_stage; default: 1).")
  Integer zeroStage;

  @Option(
      names = "--bucket-cap-mb",
      paramLabel = "MB",
      description =
          "With several workers: MiB of gradients per bucket, layers joined until one holds that"
              + " much; 0 a bucket per layer (distributed.bucket_cap_mb; default: 0).")
  Double bucketCapMb;

  @Option(
      names = "--tensor-parallel",
      paramLabel = "N",
      description =
          "Ranks that share each copy of the model, each holding a slice of every layer"
              + " (Megatron's tensor parallelism; distributed.tensor_parallel; default: 1). N must"
              + " divide the ranks, the heads, the kv heads, the FFN size and the vocabulary.")
  Integer tensorParallel;

  @Option(
      names = "--sequence-parallel",
      negatable = true,
      description =
          "With --tensor-parallel: split the residual stream and the norms along the tokens"
              + " among the ranks sharing a model (Megatron's sequence parallelism;"
              + " distributed.sequence_parallel; default: off). Less activation memory, the same"
              + " result; the tensor-parallel size must divide micro-batch x sequence length.")
  Boolean sequenceParallel;

  /** The threads a rank computes with, when the flag gives them (else null: the config's). */
  Integer threads() {
    return threads;
  }

  /**
   * The config request these options make, with the run directory {@code runDir} (null: the
   * config's), continuing a run there when {@code resumes}.
   */
  public RunConfig.Request request(
      String runDir, boolean resumes, boolean overwrite, Path resumeFrom, Path initFrom) {
    return new RunConfig.Request(
        config, overrides(runDir), resumes, overwrite, resumeFrom, initFrom, assignments);
  }

  /** The flags as config keys, in the order they override the file. */
  private Map<String, Object> overrides(String runDir) {
    Map<String, Object> o = new LinkedHashMap<>();
    o.put("run_dir", runDir);
    o.put("model.preset", preset);
    o.put("model.tokenizer", tokenizer);
    o.put("model.hidden_size", hiddenSize);
    o.put("model.num_layers", layers);
    o.put("model.num_attention_heads", heads);
    o.put("model.num_query_groups", kvHeads);
    o.put("model.ffn_hidden_size", ffnSize);
    o.put("model.max_position_embeddings", maxSeqLen);
    o.put("model.recompute", recompute);
    o.put("data.data_prefix", dataPrefix);
    o.put("data.split", split);
    o.put("data.seq_length", seqLen);
    o.put("trainer.micro_batch_size", microBatch);
    o.put("trainer.global_batch_size", globalBatch);
    o.put("trainer.max_steps", maxSteps);
    o.put("trainer.seed", seed);
    o.put("trainer.val_check_interval", valInterval);
    o.put("trainer.limit_val_batches", valBatches);
    o.put("trainer.log_every_n_steps", logInterval);
    o.put("trainer.threads", threads);
    o.put("trainer.backend", backend);
    o.put("trainer.precision", precision);
    o.put("trainer.compile_cache", compileCache);
    o.put("trainer.use_compile_cache", noCompileCache ? Boolean.FALSE : null);
    o.put("optim.lr", lr);
    o.put("optim.min_lr", minLr);
    o.put("optim.warmup_steps", warmupSteps);
    o.put("optim.weight_decay", weightDecay);
    o.put("optim.clip_grad", clipGrad);
    o.put("checkpoint.save_interval", saveInterval);
    o.put("checkpoint.save_interval_minutes", saveIntervalMinutes);
    o.put("checkpoint.keep_last", keepLast);
    o.put("checkpoint.async_save", asyncSave);
    o.put("distributed.zero_stage", zeroStage);
    o.put("distributed.bucket_cap_mb", bucketCapMb);
    o.put("distributed.tensor_parallel", tensorParallel);
    o.put("distributed.sequence_parallel", sequenceParallel);
    return o;
  }
}
