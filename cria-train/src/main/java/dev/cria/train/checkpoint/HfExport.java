package dev.cria.train.checkpoint;

import dev.cria.core.io.AtomicFiles;
import dev.cria.data.tokenizer.SpecialTokens;
import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import dev.cria.engine.io.HfConfig;
import dev.cria.engine.io.HfModelFiles;
import dev.cria.engine.io.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * A checkpoint as a Hugging Face {@code LlamaForCausalLM} directory: {@code model.safetensors} (or
 * shards and {@code model.safetensors.index.json} past the shard size, as {@code save_pretrained}),
 * {@code config.json}, {@code generation_config.json}, the tokenizer files and a {@code
 * tokenizer_config.json} for Llama's tokenizer classes. The directory is written under a temporary
 * name and renamed: it appears whole or not at all, and an old export is moved aside until the new
 * one is in place.
 */
public final class HfExport {
  private static final JsonMapper JSON =
      JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  /**
   * What to export.
   *
   * @param source a run directory (its newest valid checkpoint) or a {@code step-N} checkpoint
   * @param output the directory to create
   * @param maxShardBytes the largest safetensors file
   * @param overwrite replace an existing output directory
   */
  public record Request(
      Path source,
      Path output,
      SafetensorsWriter.Dtype dtype,
      long maxShardBytes,
      boolean overwrite) {}

  /**
   * What was exported.
   *
   * @param step the checkpoint's step, or null when it has none
   * @param files the files written, in the order written
   * @param tokenizer whether tokenizer files were exported (the run named a tokenizer)
   */
  public record Result(
      Path source,
      Long step,
      Path output,
      List<Path> files,
      long bytes,
      double seconds,
      boolean tokenizer) {}

  private HfExport() {}

  /**
   * Exports as {@code r} says; {@code warnings} gets what loading the checkpoint warns about.
   *
   * @throws IllegalArgumentException for an output that overlaps the source, exists without {@code
   *     overwrite}, or names no directory
   */
  public static Result export(Request r, Consumer<String> warnings) throws IOException {
    Path absolute = r.output().toAbsolutePath().normalize();
    if (absolute.getFileName() == null) {
      throw new IllegalArgumentException(
          "--output " + r.output() + " names no directory to create");
    }
    Path from = r.source().toAbsolutePath().normalize();
    if (from.startsWith(absolute) || absolute.startsWith(from)) {
      throw new IllegalArgumentException(
          "--output " + r.output() + " overlaps the checkpoint it exports (" + r.source() + ")");
    }
    if (Files.exists(r.output()) && !isEmptyDirectory(r.output())) {
      if (!r.overwrite()) {
        throw new IllegalArgumentException(
            Files.isRegularFile(r.output().resolve(MARKER))
                ? r.output()
                    + " holds an earlier cria export; pick another --output or pass --overwrite"
                    + " to replace it"
                : r.output()
                    + " already exists and is not a cria export (no "
                    + MARKER
                    + "); pick another --output (--overwrite replaces only an earlier export)");
      }
      requireEarlierExport(r.output());
    }
    removeStalePartials(absolute);
    long t0 = System.nanoTime();
    try (TrainedModel model = TrainedModel.load(r.source(), warnings)) {
      Tokenizer tok = model.tokenizer();
      SpecialTokens specials = tok != null ? tok.specials() : SpecialTokens.llama();
      Path partial =
          absolute.resolveSibling(partialPrefix(absolute) + ProcessHandle.current().pid());
      try {
        try {
          Files.createDirectories(partial);
        } catch (IOException e) {
          // said of --output, not of the hidden directory the export is written in first
          throw new IOException(
              "--output "
                  + r.output()
                  + ": cannot write in "
                  + absolute.getParent()
                  + " ("
                  + whyNotWritable(absolute.getParent(), e)
                  + ")",
              e);
        }
        List<Path> files =
            new ArrayList<>(
                HfModelFiles.write(
                    partial,
                    model.layout(),
                    model.parameters(),
                    r.dtype(),
                    r.maxShardBytes(),
                    Map.of("format", "pt", "source", "cria export of " + model.source())));
        AtomicFiles.writeString(
            partial.resolve("config.json"),
            HfConfig.configJson(model.shape(), specials.bos(), specials.eos(), r.dtype()));
        AtomicFiles.writeString(
            partial.resolve("generation_config.json"),
            HfConfig.generationConfigJson(
                specials.bos(), specials.eos(), model.shape().maxSeqLen()));
        files.add(partial.resolve("config.json"));
        files.add(partial.resolve("generation_config.json"));
        files.addAll(copyTokenizer(model, partial));
        writeMarker(partial, files);
        AtomicFiles.fsyncDirectory(partial);
        // the old export is moved aside, not deleted, until the new one is in place
        Path old =
            absolute.resolveSibling(
                "." + absolute.getFileName() + ".replaced-" + ProcessHandle.current().pid());
        if (Files.exists(absolute)) {
          Files.move(absolute, old);
        }
        Files.move(partial, absolute, StandardCopyOption.ATOMIC_MOVE);
        AtomicFiles.fsyncDirectory(absolute.getParent());
        AtomicFiles.deleteTree(old);
        long bytes = 0;
        List<Path> written = new ArrayList<>();
        for (Path f : files) {
          written.add(absolute.resolve(f.getFileName()));
          bytes += Files.size(absolute.resolve(f.getFileName()));
        }
        return new Result(
            model.source(),
            model.checkpoint() != null ? model.checkpoint().step() : null,
            r.output(),
            List.copyOf(written),
            bytes,
            (System.nanoTime() - t0) / 1e9,
            tok != null);
      } finally {
        AtomicFiles.deleteTree(partial);
      }
    }
  }

  /** The tokenizer files and a tokenizer_config.json for Llama's tokenizer classes. */
  private static List<Path> copyTokenizer(TrainedModel model, Path dir) throws IOException {
    Path from = model.tokenizerPath();
    if (from == null) {
      return List.of();
    }
    List<Path> files = new ArrayList<>();
    for (String name : Tokenizers.FILES) {
      Path f = from.resolve(name);
      if (Files.isRegularFile(f)) {
        AtomicFiles.copy(f, dir.resolve(name));
        files.add(dir.resolve(name));
      }
    }
    if (!Files.exists(dir.resolve("tokenizer_config.json"))) {
      boolean sentencePiece = Files.exists(dir.resolve("tokenizer.model"));
      ObjectNode o = JSON.createObjectNode();
      o.put("tokenizer_class", sentencePiece ? "LlamaTokenizer" : "PreTrainedTokenizerFast");
      var v = model.tokenizer().vocabulary();
      SpecialTokens s = model.tokenizer().specials();
      putToken(o, "unk_token", v, s.unk());
      putToken(o, "bos_token", v, s.bos());
      putToken(o, "eos_token", v, s.eos());
      putToken(o, "pad_token", v, s.pad());
      o.put("add_bos_token", true);
      o.put("add_eos_token", false);
      o.put("model_max_length", model.shape().maxSeqLen());
      o.put("clean_up_tokenization_spaces", false);
      AtomicFiles.writeString(
          dir.resolve("tokenizer_config.json"), JSON.writeValueAsString(o) + "\n");
      files.add(dir.resolve("tokenizer_config.json"));
    }
    return files;
  }

  private static void putToken(
      ObjectNode o, String key, dev.cria.data.tokenizer.Vocabulary v, int id) {
    if (id < 0) {
      o.putNull(key);
    } else {
      o.put(key, v.piece(id));
    }
  }

  /** Why a directory could not be made in {@code parent}, in words rather than Java's. */
  private static String whyNotWritable(Path parent, IOException e) {
    Path file = parent;
    while (file != null && !Files.exists(file)) {
      file = file.getParent();
    }
    if (file != null && !Files.isDirectory(file)) {
      return file + " is a file, not a directory";
    }
    if (e instanceof java.nio.file.AccessDeniedException) {
      return "permission denied";
    }
    if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
      return f.getReason();
    }
    return "this file system does not let a directory be made there";
  }

  private static String partialPrefix(Path output) {
    return "." + output.getFileName() + ".partial-";
  }

  /** Unfinished exports to the same place by processes that died (their pid is gone). */
  private static void removeStalePartials(Path output) throws IOException {
    Path parent = output.getParent();
    if (parent == null || !Files.isDirectory(parent)) {
      return;
    }
    String prefix = partialPrefix(output);
    try (Stream<Path> s = Files.list(parent)) {
      for (Path p : s.filter(p -> p.getFileName().toString().startsWith(prefix)).toList()) {
        String pid = p.getFileName().toString().substring(prefix.length());
        if (pid.matches("\\d+") && ProcessHandle.of(Long.parseLong(pid)).isEmpty()) {
          AtomicFiles.deleteTree(p);
        }
      }
    }
  }

  /** The file that tells a directory cria exported from what it did not: the names it wrote. */
  static final String MARKER = ".cria-export.json";

  private static void writeMarker(Path dir, List<Path> files) throws IOException {
    ObjectNode o = JSON.createObjectNode();
    o.put("format", "cria.export/v1");
    var names = o.putArray("files");
    files.forEach(f -> names.add(f.getFileName().toString()));
    AtomicFiles.writeString(dir.resolve(MARKER), JSON.writeValueAsString(o) + "\n");
  }

  /**
   * {@code --overwrite} replaces only a previous cria export: a directory with cria's marker and no
   * file the marker does not name. Anything else is refused, naming what is there, so a folder that
   * holds someone's notes or data is never deleted.
   */
  private static void requireEarlierExport(Path output) throws IOException {
    if (!Files.isDirectory(output)) {
      throw new IllegalArgumentException(
          "--overwrite replaces only an earlier cria export; " + output + " is a file");
    }
    java.util.Set<String> ours = new java.util.HashSet<>();
    Path marker = output.resolve(MARKER);
    if (Files.isRegularFile(marker)) {
      try {
        JSON.readTree(Files.readString(marker)).path("files").forEach(n -> ours.add(n.asString()));
        ours.add(MARKER);
      } catch (tools.jackson.core.JacksonException e) {
        ours.clear();
      }
    }
    List<String> foreign;
    try (Stream<Path> s = Files.list(output)) {
      foreign =
          s.map(p -> p.getFileName().toString()).filter(n -> !ours.contains(n)).sorted().toList();
    }
    if (ours.isEmpty() || !foreign.isEmpty()) {
      throw new IllegalArgumentException(
          "--overwrite replaces only an earlier cria export, and "
              + output
              + (ours.isEmpty()
                  ? " is not one (no " + MARKER + ")"
                  : " holds files cria did not write")
              + ": "
              + String.join(", ", foreign.subList(0, Math.min(8, foreign.size())))
              + (foreign.size() > 8 ? ", ... (" + foreign.size() + " in all)" : "")
              + "; move them away or pick another --output");
    }
  }

  private static boolean isEmptyDirectory(Path p) throws IOException {
    if (!Files.isDirectory(p)) {
      return false;
    }
    try (Stream<Path> s = Files.list(p)) {
      return s.findAny().isEmpty();
    }
  }
}
