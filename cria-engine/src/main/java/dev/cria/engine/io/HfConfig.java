package dev.cria.engine.io;

import dev.cria.engine.model.LlamaConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Hugging Face's {@code config.json} and {@code generation_config.json} for {@code
 * LlamaForCausalLM}: written on export, read on import ({@code --init-from}).
 */
public final class HfConfig {
  private static final JsonMapper JSON =
      JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  private HfConfig() {}

  /**
   * {@code config.json} for {@code c}, with the tokenizer's bos and eos ids and the stored dtype.
   */
  public static String configJson(LlamaConfig c, int bos, int eos, SafetensorsWriter.Dtype dtype) {
    ObjectNode o = JSON.createObjectNode();
    o.putArray("architectures").add("LlamaForCausalLM");
    o.put("model_type", "llama");
    o.put("hidden_size", c.dim());
    o.put("intermediate_size", c.ffnDim());
    o.put("num_hidden_layers", c.layers());
    o.put("num_attention_heads", c.heads());
    o.put("num_key_value_heads", c.kvHeads());
    o.put("head_dim", c.headDim());
    o.put("vocab_size", c.vocabSize());
    o.put("max_position_embeddings", c.maxSeqLen());
    o.put("rms_norm_eps", (double) c.normEps());
    o.put("rope_theta", (double) c.ropeTheta());
    o.putNull("rope_scaling");
    o.put("hidden_act", "silu");
    o.put("attention_bias", false);
    o.put("attention_dropout", 0.0);
    o.put("mlp_bias", false);
    o.put("initializer_range", 0.02);
    o.put("pretraining_tp", 1);
    o.put("tie_word_embeddings", false);
    o.put("use_cache", true);
    o.put("bos_token_id", bos);
    o.put("eos_token_id", eos);
    o.put("torch_dtype", dtype == SafetensorsWriter.Dtype.BF16 ? "bfloat16" : "float32");
    return JSON.writeValueAsString(o) + "\n";
  }

  /**
   * {@code generation_config.json}: Llama 2's sampling defaults, which {@code cria generate}
   * shares.
   */
  public static String generationConfigJson(int bos, int eos, int maxLength) {
    ObjectNode o = JSON.createObjectNode();
    o.put("bos_token_id", bos);
    o.put("eos_token_id", eos);
    o.put("do_sample", true);
    o.put("temperature", 0.6);
    o.put("top_p", 0.9);
    o.put("max_length", maxLength);
    return JSON.writeValueAsString(o) + "\n";
  }

  /**
   * The model shape in a {@code config.json} of a Llama model. Fields cria does not implement (rope
   * scaling, biases, tied embeddings other than by copy, other activations) are refused with the
   * field's name.
   */
  public static LlamaConfig read(Path configJson) throws IOException {
    JsonNode o;
    try {
      o = JSON.readTree(Files.readString(configJson));
    } catch (NoSuchFileException e) {
      throw new SafetensorsException(
          configJson + ": no such file (a Hugging Face model directory has config.json)");
    } catch (JacksonException e) {
      throw new SafetensorsException(configJson + ": not valid JSON: " + e.getOriginalMessage());
    }
    String type = o.path("model_type").asString("");
    if (!type.equals("llama") && !type.equals("mistral")) {
      throw new SafetensorsException(
          configJson + ": model_type is '" + type + "'; cria trains Llama models");
    }
    List<String> unsupported = new ArrayList<>();
    if (!o.path("rope_scaling").isMissingNode() && !o.path("rope_scaling").isNull()) {
      unsupported.add("rope_scaling");
    }
    if (o.path("attention_bias").asBoolean(false)) {
      unsupported.add("attention_bias");
    }
    if (o.path("mlp_bias").asBoolean(false)) {
      unsupported.add("mlp_bias");
    }
    if (!o.path("hidden_act").asString("silu").equals("silu")) {
      unsupported.add("hidden_act " + o.path("hidden_act").asString());
    }
    if (!unsupported.isEmpty()) {
      throw new SafetensorsException(
          configJson + ": cria does not implement " + String.join(", ", unsupported));
    }
    int dim = required(o, "hidden_size", configJson);
    int heads = required(o, "num_attention_heads", configJson);
    if (o.has("head_dim")
        && !o.get("head_dim").isNull()
        && o.get("head_dim").asInt() * heads != dim) {
      throw new SafetensorsException(
          configJson
              + ": head_dim "
              + o.get("head_dim").asInt()
              + " x num_attention_heads "
              + heads
              + " differs from hidden_size "
              + dim
              + "; cria needs them equal");
    }
    try {
      return new LlamaConfig(
          dim,
          required(o, "num_hidden_layers", configJson),
          heads,
          o.path("num_key_value_heads").asInt(heads),
          required(o, "intermediate_size", configJson),
          required(o, "vocab_size", configJson),
          (float) o.path("rms_norm_eps").asDouble(1e-6),
          (float) o.path("rope_theta").asDouble(10000),
          o.path("max_position_embeddings").asInt(2048));
    } catch (IllegalArgumentException e) {
      throw new SafetensorsException(configJson + ": " + e.getMessage());
    }
  }

  /** Whether the config ties the LM head to the embeddings (then the files hold no lm_head). */
  public static boolean tiedEmbeddings(Path configJson) throws IOException {
    return JSON.readTree(Files.readString(configJson)).path("tie_word_embeddings").asBoolean(false);
  }

  /**
   * A field of config.json in which two models differ.
   *
   * @param name the field, as config.json names it ({@code hidden_size}, {@code rope_theta}, ...)
   * @param here this model's value
   * @param there the other model's
   */
  public record Difference(String name, Object here, Object there) {
    /** {@code name here (here) vs there}. */
    @Override
    public String toString() {
      return String.format(Locale.ROOT, "%s %s (here) vs %s", name, here, there);
    }
  }

  /** The fields in which {@code actual} differs from {@code expected}. */
  public static List<Difference> differences(LlamaConfig expected, LlamaConfig actual) {
    List<Difference> out = new ArrayList<>();
    diff(out, "hidden_size", expected.dim(), actual.dim());
    diff(out, "num_hidden_layers", expected.layers(), actual.layers());
    diff(out, "num_attention_heads", expected.heads(), actual.heads());
    diff(out, "num_key_value_heads", expected.kvHeads(), actual.kvHeads());
    diff(out, "intermediate_size", expected.ffnDim(), actual.ffnDim());
    diff(out, "vocab_size", expected.vocabSize(), actual.vocabSize());
    diff(out, "rms_norm_eps", expected.normEps(), actual.normEps());
    diff(out, "rope_theta", expected.ropeTheta(), actual.ropeTheta());
    return out;
  }

  private static void diff(List<Difference> out, String name, Object expected, Object actual) {
    if (!expected.equals(actual)) {
      out.add(new Difference(name, expected, actual));
    }
  }

  private static int required(JsonNode o, String key, Path file) {
    JsonNode v = o.get(key);
    if (v == null || !v.canConvertToInt()) {
      throw new SafetensorsException(file + ": " + key + " is missing or not an integer");
    }
    return v.asInt();
  }
}
