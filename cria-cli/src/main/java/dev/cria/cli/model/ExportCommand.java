package dev.cria.cli.model;

import dev.cria.cli.UserError;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.train.checkpoint.HfExport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria export}: a checkpoint as a Hugging Face LlamaForCausalLM directory. */
@Command(
    name = "export",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Export a checkpoint as a Hugging Face model directory (LlamaForCausalLM).",
      "",
      "Writes model.safetensors (or shards and model.safetensors.index.json past --max-shard-size), config.json,"
          + " generation_config.json and the tokenizer files. The directory appears whole or not at all.",
      ""
    })
public final class ExportCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(
      index = "0",
      paramLabel = "RUN_OR_CHECKPOINT",
      description = "A run directory (its newest valid checkpoint) or a step-N checkpoint.")
  Path source;

  @Option(
      names = "--format",
      paramLabel = "FORMAT",
      defaultValue = "hf",
      description = "hf (the only format; default).")
  String format;

  @Option(
      names = "--output",
      paramLabel = "DIR",
      required = true,
      description = "Directory to create.")
  Path output;

  @Option(
      names = "--dtype",
      paramLabel = "DTYPE",
      defaultValue = "bf16",
      description = "bf16 or fp32 (default: ${DEFAULT-VALUE}).")
  String dtype;

  @Option(
      names = "--max-shard-size",
      paramLabel = "SIZE",
      defaultValue = "5GB",
      description =
          "Largest safetensors file, as 5GB, 500MB (default: ${DEFAULT-VALUE}, as save_pretrained).")
  String maxShardSize;

  @Option(
      names = "--overwrite",
      description =
          "Replace an earlier cria export in --output (a folder cria did not export is refused).")
  boolean overwrite;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (!format.equalsIgnoreCase("hf")) {
      throw new UserError("--format must be hf (Hugging Face safetensors), got '" + format + "'");
    }
    SafetensorsWriter.Dtype type =
        switch (dtype.toLowerCase(Locale.ROOT)) {
          case "bf16", "bfloat16" -> SafetensorsWriter.Dtype.BF16;
          case "fp32", "f32", "float32" -> SafetensorsWriter.Dtype.F32;
          default -> throw new UserError("--dtype must be bf16 or fp32, got '" + dtype + "'");
        };
    long maxShard = parseSize(maxShardSize);
    HfExport.Result r;
    try {
      r =
          HfExport.export(
              new HfExport.Request(source, output, type, maxShard, overwrite),
              line -> out.println("warning: " + line));
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    out.printf(
        Locale.ROOT,
        "exported %s (step %s, %s) to %s: %d files, %.1f MB, %.1f s%n",
        r.source(),
        r.step() != null ? r.step() : "?",
        type.name().toLowerCase(Locale.ROOT),
        output,
        r.files().size(),
        r.bytes() / 1e6,
        r.seconds());
    for (Path f : r.files()) {
      out.println("  " + f.getFileName());
    }
    if (!r.tokenizer()) {
      out.println("note: the run named no tokenizer (model.tokenizer), so none was exported");
    }
    out.flush();
    return 0;
  }

  /** "5GB", "500MB", "2GiB", or bytes. */
  static long parseSize(String text) {
    var m =
        java.util.regex.Pattern.compile(
                "(?i)\\s*(\\d+(?:\\.\\d+)?)\\s*(b|kb|mb|gb|kib|mib|gib)?\\s*")
            .matcher(text);
    if (!m.matches()) {
      throw new UserError(
          "--max-shard-size: expected a size such as 5GB or 500MB, got '" + text + "'");
    }
    double n = Double.parseDouble(m.group(1));
    String unit = m.group(2) == null ? "b" : m.group(2).toLowerCase(Locale.ROOT);
    double factor =
        switch (unit) {
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
}
