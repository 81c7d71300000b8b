package dev.cria.core.run;

import dev.cria.core.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Reads and writes {@code <run>/<rank>/status.json} ({@link RankStatus}): snake_case keys, NaN as
 * {@code null}, the format name first. Writing replaces the file atomically; reading names the file
 * in every error and refuses a format it does not know.
 */
public final class StatusFiles {
  private static final JsonMapper JSON = JsonMapper.builder().build();

  private StatusFiles() {}

  /** {@code <run>/<rank>/status.json}. */
  public static Path file(Path runDir, int rank) {
    return runDir.resolve(Integer.toString(rank)).resolve(RankStatus.FILE);
  }

  /**
   * Writes {@code s} to its rank's file under {@code runDir}, replacing it atomically (readers see
   * a whole file; no fsync: it is rewritten every few seconds).
   */
  public static void write(Path runDir, RankStatus s) throws IOException {
    AtomicFiles.replaceString(file(runDir, s.rank()), toJson(s) + "\n");
  }

  /** The status as one JSON object. */
  public static String toJson(RankStatus s) {
    return toTree(s).toString();
  }

  /** The status as a JSON tree (its format first). */
  static ObjectNode toTree(RankStatus s) {
    ObjectNode o = JSON.createObjectNode();
    o.put("format", RankStatus.FORMAT);
    o.put("run", s.run());
    o.put("rank", s.rank());
    o.put("world_size", s.worldSize());
    o.put("host", s.host());
    o.put("pid", s.pid());
    o.put("state", s.state().label());
    o.put("step", s.step());
    o.put("max_steps", s.maxSteps());
    number(o, "loss", s.loss());
    number(o, "lr", s.lr());
    number(o, "tokens_per_sec", s.tokensPerSec());
    number(o, "mfu", s.mfu());
    number(o, "step_seconds", s.stepSeconds());
    number(o, "communication_wait_seconds", s.communicationWaitSeconds());
    o.put("rss_bytes", s.rssBytes());
    o.put("off_heap_bytes", s.offHeapBytes());
    number(o, "cpu_load", s.cpuLoad());
    o.put("started_at", s.startedAt());
    o.put("updated_at", s.updatedAt());
    o.put("collectives", s.collectives());
    o.put("last_error", s.lastError());
    o.put("precision", s.precision());
    o.put("matmul", s.matmul());
    if (s.parallel() != null) {
      o.put("data_rank", s.parallel().dataRank());
      o.put("data_parallel", s.parallel().dataParallel());
      o.put("tensor_rank", s.parallel().tensorRank());
      o.put("tensor_parallel", s.parallel().tensorParallel());
    }
    number(o, "heartbeat_seconds", s.heartbeatSeconds());
    return o;
  }

  /** {@code value} under {@code key}, or null when it is not finite (not known yet). */
  static void number(ObjectNode o, String key, double value) {
    if (Double.isFinite(value)) {
      o.put(key, value);
    } else {
      o.putNull(key);
    }
  }

  /** Reads one status file. */
  public static RankStatus read(Path file) throws IOException {
    return parse(Files.readString(file), file.toString());
  }

  /**
   * One status file's text, read elsewhere (from a pod, say); {@code source} names it in errors.
   */
  public static RankStatus parse(String text, String source) throws IOException {
    JsonNode o;
    try {
      o = JSON.readTree(text);
    } catch (JacksonException e) {
      throw new IOException(source + ": not a status file: " + e.getOriginalMessage(), e);
    }
    String format = o.path("format").asString("");
    if (!format.equals(RankStatus.FORMAT)) {
      throw new IOException(
          source + ": format '" + format + "', this cria reads " + RankStatus.FORMAT);
    }
    try {
      return new RankStatus(
          o.path("run").asString(""),
          o.path("rank").asInt(),
          o.path("world_size").asInt(),
          o.path("host").asString(""),
          o.path("pid").asLong(),
          RankState.of(o.path("state").asString()),
          o.path("step").asLong(),
          o.path("max_steps").asLong(),
          number(o, "loss"),
          number(o, "lr"),
          number(o, "tokens_per_sec"),
          number(o, "mfu"),
          number(o, "step_seconds"),
          number(o, "communication_wait_seconds"),
          o.path("rss_bytes").asLong(),
          o.path("off_heap_bytes").asLong(),
          number(o, "cpu_load"),
          o.path("started_at").asLong(),
          o.path("updated_at").asLong(),
          o.path("collectives").asLong(),
          text(o, "last_error"),
          text(o, "precision"),
          text(o, "matmul"),
          parallel(o),
          number(o, "heartbeat_seconds"));
    } catch (IllegalArgumentException e) {
      throw new IOException(source + ": " + e.getMessage(), e);
    }
  }

  /**
   * The rank's place in the layout, or null when the file does not say it (written before the
   * trainer knew it, or before the fields existed).
   */
  private static RankStatus.Parallel parallel(JsonNode o) {
    if (!o.path("data_parallel").isInt() || !o.path("tensor_parallel").isInt()) {
      return null;
    }
    return new RankStatus.Parallel(
        o.path("data_rank").asInt(),
        o.path("data_parallel").asInt(),
        o.path("tensor_rank").asInt(),
        o.path("tensor_parallel").asInt());
  }

  /** A string field, or null when it is null or absent (a file written before it existed). */
  private static String text(JsonNode o, String key) {
    JsonNode n = o.path(key);
    return n.isString() ? n.asString() : null;
  }

  private static double number(JsonNode o, String key) {
    JsonNode n = o.path(key);
    return n.isNumber() ? n.asDouble() : Double.NaN;
  }

  /**
   * The status of every rank of the run in {@code runDir} that has written one, by rank; a file
   * that vanished or is being replaced between listing and reading is skipped, a damaged one is an
   * error naming it.
   */
  public static List<RankStatus> readAll(Path runDir) throws IOException {
    return readAll(runDir, null);
  }

  /**
   * As {@link #readAll(Path)}, but a damaged file is told to {@code damaged} (a line naming it and
   * what is wrong) and left out, so that one rank's bad file does not hide the others from a
   * monitor. {@code damaged} null: a damaged file is an error.
   */
  public static List<RankStatus> readAll(Path runDir, Consumer<String> damaged) throws IOException {
    if (Files.exists(runDir) && !Files.isDirectory(runDir)) {
      throw new NotDirectoryException(runDir + " is a file, not a run directory");
    }
    List<Path> dirs;
    try (Stream<Path> s = Files.list(runDir)) {
      dirs =
          s.filter(p -> p.getFileName().toString().matches("\\d+") && Files.isDirectory(p))
              .sorted(Comparator.comparingInt(p -> Integer.parseInt(p.getFileName().toString())))
              .toList();
    } catch (NoSuchFileException e) {
      throw new NoSuchFileException(runDir.toString(), null, "no such run directory");
    }
    List<RankStatus> out = new ArrayList<>();
    for (Path d : dirs) {
      Path f = d.resolve(RankStatus.FILE);
      try {
        out.add(read(f));
      } catch (NoSuchFileException e) {
        // a rank without a status yet (or a log directory of an older cria)
      } catch (IOException e) {
        if (damaged == null) {
          throw e;
        }
        damaged.accept(e.getMessage());
      }
    }
    return out;
  }
}
