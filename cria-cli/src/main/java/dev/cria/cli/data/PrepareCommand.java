package dev.cria.cli.data;

import dev.cria.cli.UserError;
import dev.cria.cli.progress.StatusLine;
import dev.cria.data.prepare.BadInputException;
import dev.cria.data.prepare.InputFiles;
import dev.cria.data.prepare.NoDocumentsException;
import dev.cria.data.prepare.Part;
import dev.cria.data.prepare.PrepareOptions;
import dev.cria.data.prepare.PreparePipeline;
import dev.cria.data.prepare.PrepareProgress;
import dev.cria.data.prepare.PrepareSummary;
import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code cria prepare}: NeMo's {@code preprocess_data_for_megatron.py}, in Java. */
@Command(
    name = "prepare",
    mixinStandardHelpOptions = true,
    description = {
      "Tokenize JSONL documents into Megatron .bin/.idx datasets (one per JSON key).",
      "",
      "Writes PREFIX_<key>_document.bin/.idx, byte-identical to NeMo's preprocess_data_for_megatron.py"
          + " with the same tokenizer and flags: MMIDIDX v1, uint16 ids below a vocabulary of 65500"
          + " (else int32), empty documents skipped, document order = input order for any --workers.",
      ""
    })
public final class PrepareCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--input",
      required = true,
      arity = "1..*",
      paramLabel = "FILE_DIR_OR_GLOB",
      description =
          "JSONL, JSONL.gz or JSONL.zst files, directories of them or globs (e.g. 'data/*.jsonl.gz'),"
              + " read in the order given.")
  List<String> inputs;

  @Option(
      names = "--output-prefix",
      required = true,
      paramLabel = "PREFIX",
      description = "Output prefix; files are PREFIX_<key>_document.bin/.idx.")
  String outputPrefix;

  @Option(
      names = "--tokenizer",
      required = true,
      paramLabel = "PATH",
      description = "SentencePiece tokenizer.model, HF tokenizer.json, or a directory with either.")
  Path tokenizer;

  @Option(
      names = "--json-keys",
      split = ",",
      defaultValue = "text",
      paramLabel = "KEY",
      description = "Keys to tokenize, comma-separated (default: ${DEFAULT-VALUE}).")
  List<String> jsonKeys;

  @Option(names = "--append-eod", description = "Append the EOS token to every non-empty document.")
  boolean appendEod;

  @Option(
      names = "--workers",
      paramLabel = "N",
      description = "Tokenizing threads (default: all cores).")
  Integer workers;

  @Option(
      names = "--part",
      paramLabel = "I/N",
      converter = PartConverter.class,
      description =
          "Tokenize only part I (from 0) of N of the input lines, for N machines working at once;"
              + " `cria data merge` of parts 0..N-1 in order gives the whole's dataset byte for byte.")
  Part part = Part.WHOLE;

  @Option(
      names = "--skip-bad-lines",
      description = "Count and skip malformed lines instead of stopping at the first.")
  boolean skipBadLines;

  @Option(
      names = "--overwrite",
      description =
          "Replace datasets already at the output prefix (else they are kept and nothing runs).")
  boolean overwrite;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (outputPrefix.isEmpty() || outputPrefix.endsWith("/")) {
      throw new UserError(
          "--output-prefix '"
              + outputPrefix
              + "' names no file: a prefix ends in a name, such as "
              + outputPrefix
              + "brown (which writes "
              + outputPrefix
              + "brown_text_document.bin/.idx)");
    }
    List<Path> files = InputFiles.expand(inputs);
    Tokenizer tok = Tokenizers.load(tokenizer);
    int threads = workers != null ? workers : Runtime.getRuntime().availableProcessors();
    PrepareOptions options =
        PrepareOptions.of(files, Path.of(outputPrefix), tok, threads)
            .withJsonKeys(jsonKeys)
            .withAppendEod(appendEod)
            .withSkipBadLines(skipBadLines)
            .withPart(part);
    for (String key : options.jsonKeys()) {
      DataCommand.requireNewDataset(options.datasetPrefix(key), overwrite);
    }
    err.printf(
        Locale.ROOT,
        "prepare: %d input file(s)%s, tokenizer %s (vocab %d), %d worker(s)%n",
        files.size(),
        part.isWhole() ? "" : ", part " + part + " of their lines",
        tok.description(),
        tok.vocabSize(),
        threads);
    StatusLine status = StatusLine.forConsole(err);
    PrepareSummary summary;
    try {
      summary = PreparePipeline.run(options, p -> status.update(describe(p), false));
    } catch (BadInputException e) {
      throw new UserError(
          e.getMessage() + " (nothing was written; --skip-bad-lines skips such lines)");
    } catch (NoDocumentsException e) {
      throw new UserError(e.getMessage());
    } finally {
      status.finish();
    }
    for (PrepareSummary.Dataset d : summary.datasets()) {
      out.printf(
          Locale.ROOT,
          "%s.bin/.idx: %d documents, %d tokens (%d empty documents skipped)%n",
          d.prefix(),
          d.documents(),
          d.tokens(),
          d.emptyDocuments());
    }
    out.printf(
        Locale.ROOT,
        "prepare: %d documents, %d tokens in %.2f s: %s tokens/s, %.1f MB/s; %d blank line(s), %d bad line(s) skipped%n",
        summary.lines(),
        summary.tokens(),
        summary.seconds(),
        StatusLine.count(summary.tokensPerSecond()),
        summary.textBytes() / 1e6 / Math.max(summary.seconds(), 1e-9),
        summary.blankLines(),
        summary.badLines());
    for (String example : summary.badLineExamples()) {
      err.println("  skipped " + example);
    }
    return 0;
  }

  /** Reads {@code --part I/N}. */
  static final class PartConverter implements picocli.CommandLine.ITypeConverter<Part> {
    @Override
    public Part convert(String value) {
      try {
        return Part.parse(value);
      } catch (IllegalArgumentException e) {
        throw new picocli.CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  static String describe(PrepareProgress p) {
    double s = Math.max(p.seconds(), 1e-9);
    return String.format(
        Locale.ROOT,
        "prepare %s %s docs (%s/s) %s tokens (%s/s) %.1f MB/s ETA %s",
        StatusLine.bar(p.fraction(), 24),
        StatusLine.count(p.documents()),
        StatusLine.count(p.documents() / s),
        StatusLine.count(p.tokens()),
        StatusLine.count(p.tokens() / s),
        p.textBytes() / 1e6 / s,
        StatusLine.duration(p.etaSeconds()));
  }
}
