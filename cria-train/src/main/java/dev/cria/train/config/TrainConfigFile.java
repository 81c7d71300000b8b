package dev.cria.train.config;

import dev.cria.engine.model.Precision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.core.JacksonException;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;
import tools.jackson.dataformat.yaml.YAMLMapper;
import tools.jackson.dataformat.yaml.YAMLWriteFeature;

/**
 * Reads, overrides and writes {@link TrainConfig} as YAML. A run's config is built in layers:
 * {@link #defaults()}, then a user's YAML file ({@link #read}), then command-line flags ({@link
 * #set}); {@link #bind} checks every field and names the one that is wrong.
 */
public final class TrainConfigFile {
  private static final YAMLMapper YAML =
      YAMLMapper.builder()
          // a key given twice is refused, as OmegaConf's loader (NeMo's) refuses it
          .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
          .disable(YAMLWriteFeature.WRITE_DOC_START_MARKER)
          .enable(YAMLWriteFeature.MINIMIZE_QUOTES)
          .build();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  // the parser's words for a key given twice
  private static final Pattern DUPLICATE = Pattern.compile("Duplicate Object property \"(.*)\"");

  private TrainConfigFile() {}

  /** Warmup steps when none are given: 10, fewer for a run of 10 steps or less. */
  public static final long DEFAULT_WARMUP_STEPS = 10;

  /**
   * The defaults, as a tree that files and flags are merged into. {@code optim.warmup_steps} is
   * null: {@link #DEFAULT_WARMUP_STEPS}, or {@code max_steps - 1} when that is less, so that no
   * default makes a short run fail.
   */
  public static ObjectNode defaults() {
    ObjectNode tree =
        toTree(
            new TrainConfig(
                "runs/cria",
                new TrainConfig.Model(
                    "tiny", null, null, null, null, null, null, null, null, null, 0.02, true,
                    false),
                new TrainConfig.Data(List.of(), "969,30,1", 0, null),
                new TrainConfig.Trainer(
                    4, 8, 100, 1234, 50, 4, 10, 0, "auto", null, true, Precision.FP32),
                new TrainConfig.Optim(
                    1e-3, 1e-4, DEFAULT_WARMUP_STEPS, 0, 0.1, 0.9, 0.95, 1e-8, 1.0),
                new TrainConfig.Checkpoint(0, 30, 2, false),
                new TrainConfig.Distributed(1, 0, 1, false)));
    ((ObjectNode) tree.get("optim")).putNull("warmup_steps");
    return tree;
  }

  /** Parses a YAML file into a tree; a syntax error names the file and line. */
  public static ObjectNode read(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (NoSuchFileException e) {
      throw new ConfigException(file + ": no such config file");
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new ConfigException(file + ": not a YAML config (its bytes are not UTF-8 text)", e);
    } catch (IOException e) {
      throw new ConfigException(file + ": cannot read: " + e.getMessage(), e);
    }
    JsonNode node;
    try {
      node = YAML.readTree(text);
    } catch (JacksonException e) {
      String where = e.getLocation() == null ? "" : ":" + e.getLocation().getLineNr();
      Matcher twice = DUPLICATE.matcher(String.valueOf(e.getOriginalMessage()));
      if (twice.matches()) {
        throw new ConfigException(
            file
                + where
                + ": "
                + twice.group(1)
                + " is given twice in the same mapping (which one was meant? NeMo's loader refuses"
                + " this too)",
            e);
      }
      throw new ConfigException(
          file + where + ": not valid YAML: " + problem(e.getOriginalMessage()), e);
    }
    if (node == null || node.isMissingNode() || node.isNull()) {
      return NODES.objectNode();
    }
    if (!node.isObject()) {
      throw new ConfigException(
          file
              + ": expected a mapping of sections (model, data, trainer, optim, checkpoint,"
              + " distributed)");
    }
    return (ObjectNode) node;
  }

  /** The parser's explanation on one line, without its excerpt of the file. */
  private static String problem(String message) {
    List<String> parts = new ArrayList<>();
    for (String line : message.split("\\R")) {
      if (!line.isBlank() && !Character.isWhitespace(line.charAt(0))) {
        parts.add(line.strip());
      }
    }
    return parts.isEmpty() ? message.strip() : String.join(": ", parts);
  }

  /**
   * A config written by cria ({@code config.yaml} of a run or a checkpoint), over the defaults, so
   * that one written before a key existed still reads.
   */
  public static TrainConfig readSaved(Path file) {
    ObjectNode tree = defaults();
    merge(tree, read(file));
    return bind(tree, file.toString());
  }

  /** Copies every value of {@code overlay} into {@code base}, section by section. */
  public static void merge(ObjectNode base, ObjectNode overlay) {
    for (Map.Entry<String, JsonNode> e : overlay.properties()) {
      JsonNode existing = base.get(e.getKey());
      if (existing instanceof ObjectNode target && e.getValue() instanceof ObjectNode source) {
        merge(target, source);
      } else {
        base.set(e.getKey(), e.getValue());
      }
    }
  }

  /**
   * Sets {@code section.key} (or a top-level key) to {@code value}: a string, number, boolean or
   * list.
   */
  public static void set(ObjectNode tree, String path, Object value) {
    String[] parts = path.split("\\.");
    ObjectNode node = tree;
    for (int i = 0; i < parts.length - 1; i++) {
      JsonNode child = node.get(parts[i]);
      if (!(child instanceof ObjectNode)) {
        child = NODES.objectNode();
        node.set(parts[i], child);
      }
      node = (ObjectNode) child;
    }
    node.set(parts[parts.length - 1], toNode(value));
  }

  private static JsonNode toNode(Object value) {
    return switch (value) {
      case null -> NODES.nullNode();
      case String s -> NODES.textNode(s);
      case Integer i -> NODES.numberNode(i);
      case Long l -> NODES.numberNode(l);
      case Double d -> NODES.numberNode(d);
      case Boolean b -> NODES.booleanNode(b);
      case List<?> list -> {
        ArrayNode array = NODES.arrayNode();
        list.forEach(v -> array.add(toNode(v)));
        yield array;
      }
      default -> throw new IllegalArgumentException("unsupported config value " + value.getClass());
    };
  }

  /**
   * Checks every field of {@code tree} and builds the config; {@code source} names it in errors.
   * Every mistake is reported, one line each, in one {@link ConfigException}.
   */
  public static TrainConfig bind(ObjectNode tree, String source) {
    Problems problems = new Problems();
    TrainConfig config = bind(tree, source, problems);
    problems.throwIfAny();
    return config;
  }

  /** {@link #bind(ObjectNode, String)}, adding its mistakes to {@code problems}. */
  static TrainConfig bind(ObjectNode tree, String source, Problems problems) {
    return bind(tree, source, problems, true);
  }

  /**
   * {@link #bind(ObjectNode, String, Problems)}; without {@code dataRequired} a config that names
   * no data is accepted (a plan needs none), its data prefix empty.
   */
  static TrainConfig bind(ObjectNode tree, String source, Problems problems, boolean dataRequired) {
    ConfigFields top = new ConfigFields(tree, source, "", problems);
    ConfigFields model = top.section("model");
    ConfigFields data = top.section("data");
    ConfigFields trainer = top.section("trainer");
    ConfigFields optim = top.section("optim");
    ConfigFields checkpoint = top.section("checkpoint");
    ConfigFields distributed = top.section("distributed");
    TrainConfig config =
        new TrainConfig(
            top.string("run_dir", false),
            new TrainConfig.Model(
                model.string("preset", false),
                model.string("tokenizer", true),
                model.positiveOrNull("hidden_size"),
                model.positiveOrNull("num_layers"),
                model.positiveOrNull("num_attention_heads"),
                model.positiveOrNull("num_query_groups"),
                model.positiveOrNull("ffn_hidden_size"),
                model.positiveOrNull("max_position_embeddings"),
                model.numberOrNull("layernorm_epsilon", 1e-12, 1),
                model.numberOrNull("rotary_base", 1, 1e12),
                model.number("init_method_std", 1e-9, 10),
                model.bool("use_scaled_init_method"),
                model.bool("recompute")),
            new TrainConfig.Data(
                data.strings("data_prefix"),
                data.string("split", false),
                (int) data.integer("seq_length", 0, Integer.MAX_VALUE),
                data.string("index_cache_dir", true)),
            new TrainConfig.Trainer(
                (int) trainer.integer("micro_batch_size", 1, 1 << 20),
                (int) trainer.integer("global_batch_size", 1, 1 << 30),
                trainer.integer("max_steps", 1, Long.MAX_VALUE),
                trainer.integer("seed", 0, 0xFFFFFFFFL),
                trainer.integer("val_check_interval", 0, Long.MAX_VALUE),
                (int) trainer.integer("limit_val_batches", 0, 1 << 20),
                trainer.integer("log_every_n_steps", 1, Long.MAX_VALUE),
                (int) trainer.integer("threads", 0, 4096),
                trainer.string("backend", false),
                trainer.string("compile_cache", true),
                trainer.bool("use_compile_cache"),
                trainer.precision("precision")),
            new TrainConfig.Optim(
                optim.number("lr", 0, 10),
                optim.number("min_lr", 0, 10),
                warmupSteps(optim, trainer),
                optim.integer("constant_steps", 0, Long.MAX_VALUE),
                optim.number("weight_decay", 0, 10),
                optim.number("beta1", 0, 0.999999),
                optim.number("beta2", 0, 0.999999),
                optim.number("eps", 0, 1),
                optim.number("clip_grad", 0, 1e9)),
            new TrainConfig.Checkpoint(
                checkpoint.integer("save_interval", 0, Long.MAX_VALUE),
                checkpoint.number("save_interval_minutes", 0, 1e7),
                (int) checkpoint.integer("keep_last", 1, 1 << 20),
                checkpoint.bool("async_save")),
            new TrainConfig.Distributed(
                (int) distributed.zeroStage("zero_stage"),
                distributed.number("bucket_cap_mb", 0, 1 << 20),
                (int) distributed.integer("tensor_parallel", 1, 1 << 16),
                distributed.bool("sequence_parallel"),
                distributed.number("heartbeat_seconds", 0.1, 3600)));
    for (ConfigFields f : List.of(top, model, data, trainer, optim, checkpoint, distributed)) {
      f.rejectUnknown();
    }
    if (dataRequired && config.data().dataPrefix().isEmpty() && data.valid("data_prefix")) {
      problems.add(
          source
              + ": data.data_prefix: is required (a prefix of a .bin/.idx pair; "
              + "make one with cria prepare)");
    }
    TrainConfig.Optim o = config.optim();
    if (o.minLr() > o.lr() && optim.valid("min_lr") && optim.valid("lr")) {
      problems.add(source + ": optim.min_lr " + o.minLr() + " is above optim.lr " + o.lr());
    }
    long maxSteps = config.trainer().maxSteps();
    if (optim.valid("warmup_steps")
        && optim.valid("constant_steps")
        && trainer.valid("max_steps")
        && o.warmupSteps() + o.constantSteps() >= maxSteps) {
      problems.add(
          source
              + ": optim.warmup_steps "
              + o.warmupSteps()
              + (o.constantSteps() > 0 ? " and optim.constant_steps " + o.constantSteps() : "")
              + " must leave steps to decay in before trainer.max_steps "
              + maxSteps);
    }
    return config;
  }

  /** {@code optim.warmup_steps}, or when it is null the default for {@code max_steps}. */
  private static long warmupSteps(ConfigFields optim, ConfigFields trainer) {
    if (optim.absent("warmup_steps")) {
      long maxSteps = trainer.peekInteger("max_steps");
      return Math.max(0, Math.min(DEFAULT_WARMUP_STEPS, maxSteps - 1));
    }
    return optim.integer("warmup_steps", 0, Long.MAX_VALUE);
  }

  /** The config as a tree, with every field (nulls included), in the order of the records. */
  public static ObjectNode toTree(TrainConfig c) {
    ObjectNode root = NODES.objectNode();
    root.put("run_dir", c.runDir());
    ObjectNode model = root.putObject("model");
    model.put("preset", c.model().preset());
    model.put("tokenizer", c.model().tokenizer());
    model.put("hidden_size", c.model().hiddenSize());
    model.put("num_layers", c.model().numLayers());
    model.put("num_attention_heads", c.model().numAttentionHeads());
    model.put("num_query_groups", c.model().numQueryGroups());
    model.put("ffn_hidden_size", c.model().ffnHiddenSize());
    model.put("max_position_embeddings", c.model().maxPositionEmbeddings());
    model.put("layernorm_epsilon", c.model().layernormEpsilon());
    model.put("rotary_base", c.model().rotaryBase());
    model.put("init_method_std", c.model().initMethodStd());
    model.put("use_scaled_init_method", c.model().useScaledInitMethod());
    model.put("recompute", c.model().recompute());
    ObjectNode data = root.putObject("data");
    ArrayNode prefixes = data.putArray("data_prefix");
    c.data().dataPrefix().forEach(prefixes::add);
    data.put("split", c.data().split());
    data.put("seq_length", c.data().seqLength());
    data.put("index_cache_dir", c.data().indexCacheDir());
    ObjectNode trainer = root.putObject("trainer");
    trainer.put("micro_batch_size", c.trainer().microBatchSize());
    trainer.put("global_batch_size", c.trainer().globalBatchSize());
    trainer.put("max_steps", c.trainer().maxSteps());
    trainer.put("seed", c.trainer().seed());
    trainer.put("val_check_interval", c.trainer().valCheckInterval());
    trainer.put("limit_val_batches", c.trainer().limitValBatches());
    trainer.put("log_every_n_steps", c.trainer().logEveryNSteps());
    trainer.put("threads", c.trainer().threads());
    trainer.put("backend", c.trainer().backend());
    trainer.put("compile_cache", c.trainer().compileCache());
    trainer.put("use_compile_cache", c.trainer().useCompileCache());
    trainer.put("precision", c.trainer().precision().text());
    ObjectNode optim = root.putObject("optim");
    optim.put("lr", c.optim().lr());
    optim.put("min_lr", c.optim().minLr());
    optim.put("warmup_steps", c.optim().warmupSteps());
    optim.put("constant_steps", c.optim().constantSteps());
    optim.put("weight_decay", c.optim().weightDecay());
    optim.put("beta1", c.optim().beta1());
    optim.put("beta2", c.optim().beta2());
    optim.put("eps", c.optim().eps());
    optim.put("clip_grad", c.optim().clipGrad());
    ObjectNode checkpoint = root.putObject("checkpoint");
    checkpoint.put("save_interval", c.checkpoint().saveInterval());
    checkpoint.put("save_interval_minutes", c.checkpoint().saveIntervalMinutes());
    checkpoint.put("keep_last", c.checkpoint().keepLast());
    checkpoint.put("async_save", c.checkpoint().asyncSave());
    ObjectNode distributed = root.putObject("distributed");
    distributed.put("zero_stage", c.distributed().zeroStage());
    distributed.put("bucket_cap_mb", c.distributed().bucketCapMb());
    distributed.put("tensor_parallel", c.distributed().tensorParallel());
    distributed.put("sequence_parallel", c.distributed().sequenceParallel());
    distributed.put("heartbeat_seconds", c.distributed().heartbeatSeconds());
    return root;
  }

  /**
   * Every key whose value differs between {@code before} and {@code after}, as {@code key: old ->
   * new}.
   */
  public static List<String> differences(TrainConfig before, TrainConfig after) {
    List<String> out = new ArrayList<>();
    differences(toTree(before), toTree(after), "", out);
    return out;
  }

  private static void differences(JsonNode a, JsonNode b, String prefix, List<String> out) {
    if (a instanceof ObjectNode oa && b instanceof ObjectNode ob) {
      for (String key : oa.propertyNames()) {
        differences(oa.get(key), ob.get(key), prefix + key + ".", out);
      }
      return;
    }
    if (!java.util.Objects.equals(a, b)) {
      out.add(prefix.substring(0, prefix.length() - 1) + ": " + a + " -> " + b);
    }
  }

  /** The config as YAML text, as written to {@code config.yaml}. */
  public static String toYaml(TrainConfig c) {
    return YAML.writeValueAsString(toTree(c));
  }

  /** A value for a message: text quoted, a mapping or a list named, anything else as written. */
  static String describe(JsonNode v) {
    if (v.isString()) {
      return "'" + v.asString() + "'";
    }
    if (v.isObject()) {
      return "a mapping";
    }
    if (v.isArray()) {
      return "a list";
    }
    return v.toString();
  }
}
