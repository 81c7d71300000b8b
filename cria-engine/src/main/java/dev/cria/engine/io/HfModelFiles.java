package dev.cria.engine.io;

import dev.cria.core.io.AtomicFiles;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * A model's weights as Hugging Face stores them: {@code model.safetensors}, or past a size limit
 * {@code model-00001-of-0000N.safetensors} shards with {@code model.safetensors.index.json} mapping
 * each tensor to its shard, as {@code save_pretrained} writes them.
 */
public final class HfModelFiles {
  public static final String SINGLE = "model.safetensors";
  public static final String INDEX = "model.safetensors.index.json";
  private static final JsonMapper JSON =
      JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  private HfModelFiles() {}

  /**
   * Writes the model into {@code dir}: one file when it fits {@code maxShardBytes}, shards and an
   * index otherwise (a tensor is never split). Returns the files written, the index last.
   */
  public static List<Path> write(
      Path dir,
      ParameterLayout layout,
      Floats parameters,
      SafetensorsWriter.Dtype dtype,
      long maxShardBytes,
      Map<String, String> metadata)
      throws IOException {
    List<SafetensorsWriter.Tensor> all = SafetensorsWriter.tensors(layout, parameters);
    List<List<SafetensorsWriter.Tensor>> shards = new ArrayList<>();
    List<SafetensorsWriter.Tensor> current = new ArrayList<>();
    long bytes = 0;
    for (SafetensorsWriter.Tensor t : all) {
      long size = t.data().byteSize() / Float.BYTES * dtype.width();
      if (!current.isEmpty() && bytes + size > maxShardBytes) {
        shards.add(current);
        current = new ArrayList<>();
        bytes = 0;
      }
      current.add(t);
      bytes += size;
    }
    shards.add(current);
    Files.createDirectories(dir);
    List<Path> written = new ArrayList<>();
    if (shards.size() == 1) {
      SafetensorsWriter.write(dir.resolve(SINGLE), all, dtype, metadata);
      written.add(dir.resolve(SINGLE));
      Files.deleteIfExists(dir.resolve(INDEX));
      return written;
    }
    ObjectNode index = JSON.createObjectNode();
    long total = 0;
    ObjectNode weightMap = JSON.createObjectNode();
    for (int s = 0; s < shards.size(); s++) {
      String name =
          String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", s + 1, shards.size());
      SafetensorsWriter.write(dir.resolve(name), shards.get(s), dtype, metadata);
      written.add(dir.resolve(name));
      for (SafetensorsWriter.Tensor t : shards.get(s)) {
        weightMap.put(t.name(), name);
        total += t.data().byteSize() / Float.BYTES * dtype.width();
      }
    }
    index.putObject("metadata").put("total_size", total);
    index.set("weight_map", weightMap);
    Path indexFile = dir.resolve(INDEX);
    AtomicFiles.writeString(indexFile, JSON.writeValueAsString(index) + "\n");
    Files.deleteIfExists(dir.resolve(SINGLE));
    written.add(indexFile);
    return written;
  }

  /**
   * Reads every tensor of {@code layout} from the model files in {@code dir} (F32, F16 or BF16)
   * into {@code parameters}. A missing tensor or a wrong shape is an error naming both; without
   * {@code lm_head.weight}, a model with {@code tie_word_embeddings} gets a copy of the embeddings.
   */
  public static void read(
      Path dir, ParameterLayout layout, Floats parameters, boolean tiedEmbeddings)
      throws IOException {
    Map<String, Path> where = locate(dir);
    Map<Path, SafetensorsFile> open = new LinkedHashMap<>();
    try {
      for (ParameterLayout.Tensor t : layout.tensors()) {
        Path file = where.get(t.name());
        if (file == null) {
          if (t.name().equals("lm_head.weight") && tiedEmbeddings) {
            ParameterLayout.Tensor e = layout.tensor("model.embed_tokens.weight");
            MemorySegment.copy(
                parameters.segment(),
                e.offset() * Float.BYTES,
                parameters.segment(),
                t.offset() * Float.BYTES,
                t.size() * Float.BYTES);
            continue;
          }
          throw new SafetensorsException(dir + ": no tensor " + t.name() + " in the model files");
        }
        SafetensorsFile f = opened(open, file);
        String wrong = wrongShape(file, t, f.entry(t.name()));
        if (wrong != null) {
          throw new SafetensorsException(wrong);
        }
        f.read(t.name(), parameters.segment(), t.offset());
      }
    } finally {
      open.values().forEach(SafetensorsFile::close);
    }
  }

  /**
   * How the tensors of the model files in {@code dir} differ from {@code layout}'s, reading only
   * the files' headers: the first tensor missing or of another shape, else a tensor the layout does
   * not have; null when they are the same tensors with the same shapes (a cria checkpoint of this
   * model).
   *
   * @throws SafetensorsException when a file is not readable
   */
  public static String layoutMismatch(Path dir, ParameterLayout layout) throws IOException {
    Map<String, Path> where = locate(dir);
    java.util.SortedSet<String> extra = new java.util.TreeSet<>(where.keySet());
    Map<Path, SafetensorsFile> open = new LinkedHashMap<>();
    try {
      for (ParameterLayout.Tensor t : layout.tensors()) {
        extra.remove(t.name());
        Path file = where.get(t.name());
        if (file == null) {
          return dir + " has no tensor " + t.name();
        }
        SafetensorsFile f = opened(open, file);
        String wrong = wrongShape(file, t, f.entry(t.name()));
        if (wrong != null) {
          return wrong;
        }
      }
    } finally {
      open.values().forEach(SafetensorsFile::close);
    }
    return extra.isEmpty()
        ? null
        : dir + " holds " + extra.size() + " tensor(s) the model has not, such as " + extra.first();
  }

  /** {@code file}, opened now unless {@code open} holds it already (and then held there). */
  private static SafetensorsFile opened(Map<Path, SafetensorsFile> open, Path file)
      throws IOException {
    SafetensorsFile f = open.get(file);
    if (f == null) {
      f = SafetensorsFile.open(file);
      open.put(file, f);
    }
    return f;
  }

  /** {@code FILE: NAME has shape [a, b], the model needs [c, d]}, or null when it has. */
  private static String wrongShape(Path file, ParameterLayout.Tensor t, SafetensorsFile.Entry e) {
    long[] expected = t.rows() == 1 ? new long[] {t.cols()} : new long[] {t.rows(), t.cols()};
    if (java.util.Arrays.equals(e.shape(), expected)) {
      return null;
    }
    return file
        + ": "
        + t.name()
        + " has shape "
        + java.util.Arrays.toString(e.shape())
        + ", the model needs "
        + java.util.Arrays.toString(expected);
  }

  /** Which file holds each tensor: the index's weight map, or every tensor of the single file. */
  private static Map<String, Path> locate(Path dir) throws IOException {
    Map<String, Path> where = new LinkedHashMap<>();
    Path index = dir.resolve(INDEX);
    if (Files.isRegularFile(index)) {
      JsonNode root;
      try {
        root = JSON.readTree(Files.readString(index));
      } catch (JacksonException e) {
        throw new SafetensorsException(index + ": not valid JSON: " + e.getOriginalMessage());
      }
      JsonNode map = root.path("weight_map");
      if (!map.isObject()) {
        throw new SafetensorsException(index + ": no weight_map");
      }
      map.properties().forEach(e -> where.put(e.getKey(), dir.resolve(e.getValue().asString())));
      return where;
    }
    Path single = dir.resolve(SINGLE);
    if (!Files.isRegularFile(single)) {
      throw new SafetensorsException(dir + ": neither " + SINGLE + " nor " + INDEX);
    }
    try (SafetensorsFile f = SafetensorsFile.open(single)) {
      f.entries().keySet().forEach(name -> where.put(name, single));
    }
    return where;
  }
}
