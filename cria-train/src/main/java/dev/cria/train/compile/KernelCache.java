package dev.cria.train.compile;

import dev.cria.core.CriaVersion;
import dev.cria.core.io.AtomicFiles;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.backend.TunedKernel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Tuned kernels on shared storage, one file per machine and set of shapes: {@code
 * DIR/kernels/BACKEND-ID.json}, where ID hashes the {@link Key} (cria's version, the backend, the
 * machine as the backend describes it, which includes its threads, and the shapes). What the
 * blueprint's NEFF cache is to neuron_parallel_compile: {@code cria compile} fills it once, every
 * rank of {@code cria train} (and {@code cria bench}) reads it.
 *
 * <p>An entry is written whole or not at all (a temporary sibling, fsynced, renamed over the name),
 * so ranks reading while another writes see the old entry or the new one, and two writers leave one
 * valid entry. An entry carries its key and a SHA-256 of its content: one that is damaged, made for
 * another key, or names a choice the backend does not know is ignored with a warning, and the run
 * uses the backend's defaults.
 */
public final class KernelCache {
  /** The cache's directory when none is named: beside the run directories. */
  public static final String DIRECTORY_NAME = "compile-cache";

  private static final String FORMAT = "cria kernel cache 1";
  private static final JsonMapper JSON = JsonMapper.builder().build();

  private KernelCache() {}

  /**
   * What an entry is valid for.
   *
   * @param machine the backend's {@link Backend#machine()}
   */
  public record Key(String cria, String backend, String machine, List<GemmShape> shapes) {
    public Key {
      shapes = List.copyOf(shapes);
    }

    /** The key of {@code backend}'s kernels for {@code shapes}, with this cria's version. */
    public static Key of(Backend backend, List<GemmShape> shapes) {
      return new Key(CriaVersion.get(), backend.name(), backend.machine(), shapes);
    }

    /** 16 hex digits of a SHA-256 of the key. */
    String id() {
      return sha256(
              cria
                  + "\n"
                  + backend
                  + "\n"
                  + machine
                  + "\n"
                  + shapes.stream().map(String::valueOf).toList())
          .substring(0, 16);
    }
  }

  /**
   * The cache a run uses: {@code trainer.compile_cache}, or {@code compile-cache} beside the run
   * directory; null when {@code trainer.use_compile_cache} is false.
   */
  public static Path directoryFor(dev.cria.train.config.TrainConfig c) {
    if (!c.trainer().useCompileCache()) {
      return null;
    }
    if (c.trainer().compileCache() != null) {
      return Path.of(c.trainer().compileCache());
    }
    Path run = Path.of(c.runDir()).normalize();
    Path parent = run.getParent() != null ? run.getParent() : run.toAbsolutePath().getParent();
    return (parent != null ? parent : run.toAbsolutePath().getRoot()).resolve(DIRECTORY_NAME);
  }

  /** {@code DIR/kernels/BACKEND-ID.json}. */
  public static Path entry(Path dir, Key key) {
    return dir.resolve("kernels").resolve(key.backend() + "-" + key.id() + ".json");
  }

  /**
   * The tuned kernels of {@code key} in {@code dir}: empty when there is no entry, or when the
   * entry is damaged or made for another key ({@code warnings} is told which and why).
   */
  public static Optional<List<TunedKernel>> read(Path dir, Key key, Consumer<String> warnings) {
    Path file = entry(dir, key);
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      warnings.accept(
          "ignoring kernel cache entry " + file + ": cannot read it: " + e.getMessage());
      return Optional.empty();
    }
    try {
      return Optional.of(parse(text, key));
    } catch (IllegalArgumentException | JacksonException e) {
      warnings.accept("ignoring kernel cache entry " + file + ": " + e.getMessage());
      return Optional.empty();
    }
  }

  /** Writes {@code kernels} as {@code key}'s entry in {@code dir}, atomically; returns its path. */
  public static Path write(Path dir, Key key, List<TunedKernel> kernels) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    root.put("format", FORMAT);
    root.put("cria", key.cria());
    root.put("backend", key.backend());
    root.put("machine", key.machine());
    ArrayNode shapes = root.putArray("shapes");
    key.shapes().forEach(s -> shapes.add(s.toString()));
    ArrayNode list = root.putArray("kernels");
    for (TunedKernel k : kernels) {
      ObjectNode o = list.addObject();
      o.put("shape", k.shape().toString());
      o.put("choice", k.choice());
      o.put("default_gflops", k.defaultGflops());
      o.put("tuned_gflops", k.tunedGflops());
    }
    root.put("sha256", sha256(JSON.writeValueAsString(root)));
    Path file = entry(dir, key);
    AtomicFiles.writeString(
        file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n");
    return file;
  }

  /**
   * Finds {@code shapes}' entry for {@code backend} in {@code dir} (null: the cache is off) and
   * makes the backend run its choices; returns the line for the log, which says whether it did.
   */
  public static String use(
      Path dir, Backend backend, List<GemmShape> shapes, Consumer<String> warnings) {
    if (dir == null) {
      return "kernel cache: off (--no-compile-cache): default kernels";
    }
    if (shapes.isEmpty()) {
      return "kernel cache: not used: no fp32 products to tune (a bf16 precision multiplies on"
          + " the bf16 product, which picks its own kernels)";
    }
    Key key = Key.of(backend, shapes);
    Optional<List<TunedKernel>> found = read(dir, key, warnings);
    if (found.isEmpty()) {
      return "kernel cache: none in "
          + dir
          + " for this machine and these shapes: default kernels (cria compile tunes them)";
    }
    try {
      backend.useTuned(found.get());
    } catch (IllegalArgumentException e) {
      warnings.accept("ignoring kernel cache entry " + entry(dir, key) + ": " + e.getMessage());
      return "kernel cache: entry ignored: default kernels";
    }
    return "kernel cache: hit, " + found.get().size() + " shapes (" + entry(dir, key) + ")";
  }

  private static List<TunedKernel> parse(String text, Key key) {
    JsonNode node = JSON.readTree(text);
    if (!(node instanceof ObjectNode root) || !FORMAT.equals(root.path("format").asString())) {
      throw new IllegalArgumentException("not a " + FORMAT + " file");
    }
    String sum = root.path("sha256").asString();
    root.remove("sha256");
    if (!sha256(JSON.writeValueAsString(root)).equals(sum)) {
      throw new IllegalArgumentException("damaged: its SHA-256 does not match its content");
    }
    String machine = root.path("machine").asString();
    if (!key.machine().equals(machine)) {
      throw new IllegalArgumentException(
          "it was tuned on another machine (" + machine + "; this is " + key.machine() + ")");
    }
    if (!key.cria().equals(root.path("cria").asString())
        || !key.backend().equals(root.path("backend").asString())) {
      throw new IllegalArgumentException(
          "it was tuned by cria "
              + root.path("cria").asString()
              + " for backend "
              + root.path("backend").asString()
              + " (this is cria "
              + key.cria()
              + ", backend "
              + key.backend()
              + ")");
    }
    List<GemmShape> shapes = new ArrayList<>();
    root.path("shapes").forEach(s -> shapes.add(GemmShape.parse(s.asString())));
    if (!shapes.equals(key.shapes())) {
      throw new IllegalArgumentException("it was tuned for other shapes");
    }
    List<TunedKernel> kernels = new ArrayList<>();
    for (JsonNode k : root.path("kernels")) {
      kernels.add(
          new TunedKernel(
              GemmShape.parse(k.path("shape").asString()),
              k.path("choice").asString(),
              k.path("default_gflops").asDouble(),
              k.path("tuned_gflops").asDouble()));
    }
    return kernels;
  }

  private static String sha256(String text) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
