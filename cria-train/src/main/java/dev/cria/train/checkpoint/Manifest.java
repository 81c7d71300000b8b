package dev.cria.train.checkpoint;

import dev.cria.core.checksum.Checksums;
import dev.cria.core.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code manifest.json}: every file of a checkpoint with its size and CRC-32C. Written last, so a
 * directory without one is unfinished; {@link #problem} re-reads every file to find damage.
 *
 * @param step the optimizer steps the checkpoint holds
 * @param files relative path to size and checksum, in writing order
 */
public record Manifest(long step, Map<String, FileEntry> files) {
  public static final String FILE = "manifest.json";
  static final String FORMAT = "cria-checkpoint";
  static final int VERSION = 1;
  private static final JsonMapper JSON =
      JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  /** One file's size and CRC-32C. */
  public record FileEntry(long bytes, long crc32c) {}

  public Manifest {
    files = Collections.unmodifiableMap(new LinkedHashMap<>(files));
  }

  /** Bytes of every listed file together. */
  public long totalBytes() {
    return files.values().stream().mapToLong(FileEntry::bytes).sum();
  }

  /** Writes {@code manifest.json} into {@code dir}, atomically. */
  public void write(Path dir) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    root.put("format", FORMAT);
    root.put("version", VERSION);
    root.put("step", step);
    ObjectNode list = root.putObject("files");
    files.forEach((name, e) ->
        list.putObject(name)
            .put("bytes", e.bytes())
            .put("crc32c", String.format(Locale.ROOT, "%08x", e.crc32c())));
    AtomicFiles.writeString(dir.resolve(FILE), JSON.writeValueAsString(root) + "\n");
  }

  /** Reads the manifest of {@code dir}; a missing or malformed one is an error naming the file. */
  public static Manifest read(Path dir) throws IOException {
    Path file = dir.resolve(FILE);
    JsonNode root;
    try {
      root = JSON.readTree(Files.readAllBytes(file));
    } catch (NoSuchFileException e) {
      throw new CheckpointException(file + ": missing (the checkpoint was not finished)");
    } catch (JacksonException e) {
      throw new CheckpointException(file + ": not valid JSON: " + e.getOriginalMessage());
    }
    if (!FORMAT.equals(root.path("format").asString(""))
        || root.path("version").asInt(-1) != VERSION) {
      throw new CheckpointException(
          file + ": not a " + FORMAT + " version " + VERSION + " manifest");
    }
    Map<String, FileEntry> files = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : root.path("files").properties()) {
      String crc = e.getValue().path("crc32c").asString("");
      long bytes = e.getValue().path("bytes").asLong(-1);
      if (!crc.matches("[0-9a-f]{8}")
          || bytes < 0
          || !e.getKey().matches("[A-Za-z0-9_.\\-]+(/[A-Za-z0-9_.\\-]+)*")
          || e.getKey().contains("..")) {
        throw new CheckpointException(file + ": entry " + e.getKey() + " is malformed");
      }
      files.put(e.getKey(), new FileEntry(bytes, Long.parseLong(crc, 16)));
    }
    if (files.isEmpty() || !root.path("step").canConvertToLong()) {
      throw new CheckpointException(file + ": no step or no files");
    }
    return new Manifest(root.path("step").asLong(), files);
  }

  /**
   * The first damage found in {@code dir}'s files (missing, other size, other checksum), or null.
   */
  public String problem(Path dir) throws IOException {
    return problem(dir, 0, 1);
  }

  /**
   * As {@link #problem(Path)}, for this checker's share of the files: entries {@code i} with {@code
   * i % checkers == checker}, so that the ranks of a group check a checkpoint together.
   */
  public String problem(Path dir, int checker, int checkers) throws IOException {
    return problem(dir, checker, checkers, name -> true);
  }

  /** As {@link #problem(Path, int, int)}, of the files whose names {@code checked} accepts. */
  public String problem(
      Path dir, int checker, int checkers, java.util.function.Predicate<String> checked)
      throws IOException {
    int i = -1;
    for (Map.Entry<String, FileEntry> e : files.entrySet()) {
      if (++i % checkers != checker || !checked.test(e.getKey())) {
        continue;
      }
      Path file = dir.resolve(e.getKey());
      if (!Files.isRegularFile(file)) {
        return e.getKey() + " is missing";
      }
      long size = Files.size(file);
      if (size != e.getValue().bytes()) {
        return String.format(
            Locale.ROOT,
            "%s has %,d bytes, the manifest says %,d",
            e.getKey(),
            size,
            e.getValue().bytes());
      }
      long crc = Checksums.crc32c(file);
      if (crc != e.getValue().crc32c()) {
        return String.format(
            Locale.ROOT,
            "%s has checksum %08x, the manifest says %08x",
            e.getKey(),
            crc,
            e.getValue().crc32c());
      }
    }
    return null;
  }
}
