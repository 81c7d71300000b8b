package dev.cria.cli.model;

import dev.cria.cli.UserError;
import dev.cria.core.io.AtomicFiles;
import dev.cria.data.tokenizer.SpecialTokens;
import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import dev.cria.engine.io.HfConfig;
import dev.cria.engine.io.HfModelFiles;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.train.checkpoint.TrainedModel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/** {@code cria export}: a checkpoint as a Hugging Face LlamaForCausalLM directory. */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
      "Export a checkpoint as a Hugging Face model directory (LlamaForCausalLM).",
      "",
      "Writes model.safetensors (or shards and model.safetensors.index.json past --max-shard-size), config.json,"
          + " generation_config.json and the tokenizer files. The directory appears whole or not at all.",
      ""
    })
public final class ExportCommand implements Callable<Integer> {
  private static final JsonMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  @Spec CommandSpec spec;

  @Parameters(index = "0", paramLabel = "RUN_OR_CHECKPOINT", description = "A run directory (its newest valid checkpoint) or a step-N checkpoint.")
  Path source;

  @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "hf", description = "hf (the only format; default).")
  String format;

  @Option(names = "--output", paramLabel = "DIR", required = true, description = "Directory to create.")
  Path output;

  @Option(names = "--dtype", paramLabel = "DTYPE", defaultValue = "bf16", description = "bf16 or fp32 (default: ${DEFAULT-VALUE}).")
  String dtype;

  @Option(names = "--max-shard-size", paramLabel = "SIZE", defaultValue = "5GB",
      description = "Largest safetensors file, as 5GB, 500MB (default: ${DEFAULT-VALUE}, as save_pretrained).")
  String maxShardSize;

  @Option(names = "--overwrite", description = "Replace an existing --output directory.")
  boolean overwrite;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (!format.equalsIgnoreCase("hf")) {
      throw new UserError("--format must be hf (Hugging Face safetensors), got '" + format + "'");
    }
    SafetensorsWriter.Dtype type = switch (dtype.toLowerCase(Locale.ROOT)) {
      case "bf16", "bfloat16" -> SafetensorsWriter.Dtype.BF16;
      case "fp32", "f32", "float32" -> SafetensorsWriter.Dtype.F32;
      default -> throw new UserError("--dtype must be bf16 or fp32, got '" + dtype + "'");
    };
    long maxShard = parseSize(maxShardSize);
    Path absolute = output.toAbsolutePath().normalize();
    if (absolute.getFileName() == null) {
      throw new UserError("--output " + output + " names no directory to create");
    }
    Path from = source.toAbsolutePath().normalize();
    if (from.startsWith(absolute) || absolute.startsWith(from)) {
      throw new UserError("--output " + output + " overlaps the checkpoint it exports (" + source + ")");
    }
    if (Files.exists(output) && !overwrite && !isEmptyDirectory(output)) {
      throw new UserError(output + " already exists; pick another --output or pass --overwrite");
    }
    removeStalePartials(absolute);
    long t0 = System.nanoTime();
    try (TrainedModel model = TrainedModel.load(source, line -> out.println("warning: " + line))) {
      Tokenizer tok = model.tokenizer();
      SpecialTokens specials = tok != null ? tok.specials() : SpecialTokens.llama();
      Path partial = absolute.resolveSibling(partialPrefix(absolute) + ProcessHandle.current().pid());
      try {
        Files.createDirectories(partial);
        List<Path> files = new ArrayList<>(HfModelFiles.write(partial, model.layout(), model.parameters(), type,
            maxShard, Map.of("format", "pt", "source", "cria export of " + model.source())));
        AtomicFiles.writeString(partial.resolve("config.json"),
            HfConfig.configJson(model.shape(), specials.bos(), specials.eos(), type));
        AtomicFiles.writeString(partial.resolve("generation_config.json"),
            HfConfig.generationConfigJson(specials.bos(), specials.eos(), model.shape().maxSeqLen()));
        files.add(partial.resolve("config.json"));
        files.add(partial.resolve("generation_config.json"));
        files.addAll(copyTokenizer(model, partial));
        AtomicFiles.fsyncDirectory(partial);
        // the old export is moved aside, not deleted, until the new one is in place
        Path old = absolute.resolveSibling("." + absolute.getFileName() + ".replaced-" + ProcessHandle.current().pid());
        if (Files.exists(absolute)) {
          Files.move(absolute, old);
        }
        Files.move(partial, absolute, StandardCopyOption.ATOMIC_MOVE);
        AtomicFiles.fsyncDirectory(absolute.getParent());
        AtomicFiles.deleteTree(old);
        long bytes = 0;
        for (Path f : files) {
          bytes += Files.size(absolute.resolve(f.getFileName()));
        }
        out.printf(Locale.ROOT, "exported %s (step %s, %s) to %s: %d files, %.1f MB, %.1f s%n", model.source(),
            model.checkpoint() != null ? model.checkpoint().step() : "?", type.name().toLowerCase(Locale.ROOT), output,
            files.size(), bytes / 1e6, (System.nanoTime() - t0) / 1e9);
        for (Path f : files) {
          out.println("  " + f.getFileName());
        }
        if (tok == null) {
          out.println("note: the run named no tokenizer (model.tokenizer), so none was exported");
        }
      } finally {
        AtomicFiles.deleteTree(partial);
      }
    }
    out.flush();
    return 0;
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
      AtomicFiles.writeString(dir.resolve("tokenizer_config.json"), JSON.writeValueAsString(o) + "\n");
      files.add(dir.resolve("tokenizer_config.json"));
    }
    return files;
  }

  private static void putToken(ObjectNode o, String key, dev.cria.data.tokenizer.Vocabulary v, int id) {
    if (id < 0) {
      o.putNull(key);
    } else {
      o.put(key, v.piece(id));
    }
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

  /** "5GB", "500MB", "2GiB", or bytes. */
  static long parseSize(String text) {
    var m = java.util.regex.Pattern.compile("(?i)\\s*(\\d+(?:\\.\\d+)?)\\s*(b|kb|mb|gb|kib|mib|gib)?\\s*").matcher(text);
    if (!m.matches()) {
      throw new UserError("--max-shard-size: expected a size such as 5GB or 500MB, got '" + text + "'");
    }
    double n = Double.parseDouble(m.group(1));
    String unit = m.group(2) == null ? "b" : m.group(2).toLowerCase(Locale.ROOT);
    double factor = switch (unit) {
      case "kb" -> 1e3;
      case "mb" -> 1e6;
      case "gb" -> 1e9;
      case "kib" -> 1024.0;
      case "mib" -> 1024.0 * 1024;
      case "gib" -> 1024.0 * 1024 * 1024;
      default -> 1;
    };
    long bytes = (long) (n * factor);
    if (bytes < 1) {
      throw new UserError("--max-shard-size must be positive, got '" + text + "'");
    }
    return bytes;
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
