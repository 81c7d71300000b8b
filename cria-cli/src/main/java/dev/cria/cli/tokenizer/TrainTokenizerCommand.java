package dev.cria.cli.tokenizer;

import dev.cria.cli.UserError;
import dev.cria.cli.progress.StatusLine;
import dev.cria.data.prepare.BadInputException;
import dev.cria.data.prepare.InputFiles;
import dev.cria.data.prepare.JsonlTexts;
import dev.cria.data.tokenizer.BpeTrainer;
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

/** {@code cria tokenizer train}: a Llama-style BPE tokenizer from a JSONL corpus. */
@Command(
    name = "train",
    mixinStandardHelpOptions = true,
    description = {
      "Train a Llama-style BPE tokenizer (byte fallback, U+2581 word prefix, digits split,"
          + " <unk> <s> </s>) on JSONL documents.",
      "Writes DIR/tokenizer.json, DIR/tokenizer.model (SentencePiece) and DIR/tokenizer_config.json;"
          + " every cria command and Hugging Face / SentencePiece read them."
    })
final class TrainTokenizerCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--input",
      required = true,
      arity = "1..*",
      paramLabel = "FILE_OR_GLOB",
      description = "JSONL, JSONL.gz or JSONL.zst files, directories of them or globs.")
  List<String> inputs;

  @Option(
      names = "--vocab-size",
      required = true,
      paramLabel = "N",
      description = "Vocabulary size, specials and 256 byte pieces included.")
  int vocabSize;

  @Option(
      names = "--output",
      required = true,
      paramLabel = "DIR",
      description = "Directory to write the tokenizer into.")
  Path output;

  @Option(
      names = {"--json-key", "--json-keys"},
      defaultValue = "text",
      paramLabel = "KEY",
      description = "Key holding the text (default: ${DEFAULT-VALUE}).")
  String jsonKey;

  @Option(
      names = "--character-coverage",
      defaultValue = "0.9995",
      paramLabel = "F",
      description =
          "Fraction of character occurrences the kept characters must cover; the rest fall back to bytes (default: ${DEFAULT-VALUE}).")
  double characterCoverage;

  @Option(
      names = "--max-piece-length",
      defaultValue = "16",
      paramLabel = "N",
      description = "Longest piece in characters (default: ${DEFAULT-VALUE}).")
  int maxPieceLength;

  @Option(
      names = "--overwrite",
      description = "Replace the tokenizer files an --output directory already holds.")
  boolean overwrite;

  @Option(
      names = "--skip-bad-lines",
      description = "Count and skip malformed lines instead of stopping.")
  boolean skipBadLines;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    try {
      Tokenizers.requireSaveable(output, overwrite);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    List<Path> files = InputFiles.expand(inputs);
    BpeTrainer trainer;
    try {
      trainer =
          new BpeTrainer(
              new BpeTrainer.Options(vocabSize, characterCoverage, maxPieceLength, true));
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    long started = System.nanoTime();
    StatusLine status = StatusLine.forConsole(err);
    JsonlTexts.Counts counts;
    try {
      counts =
          JsonlTexts.forEach(
              files,
              jsonKey,
              skipBadLines,
              trainer::addDocument,
              (done, total) ->
                  status.update(
                      String.format(
                          Locale.ROOT,
                          "tokenizer train: counting words %s %s docs",
                          StatusLine.bar(total == 0 ? 1 : (double) done / total, 24),
                          StatusLine.count(trainer.documentCount())),
                      false));
    } catch (BadInputException e) {
      throw new UserError(e.getMessage() + " (--skip-bad-lines skips such lines)");
    } finally {
      status.finish();
    }
    err.printf(
        Locale.ROOT,
        "tokenizer train: %d documents, %d words (%d distinct); merging ...%n",
        counts.documents(),
        trainer.wordCount(),
        trainer.distinctWordCount());
    Tokenizer tokenizer;
    try {
      tokenizer =
          trainer.train((done, total) ->
              status.update(
                  String.format(
                      Locale.ROOT,
                      "tokenizer train: merges %s %d/%d",
                      StatusLine.bar(total == 0 ? 1 : (double) done / total, 24),
                      done,
                      total),
                  false));
    } finally {
      status.finish();
    }
    Tokenizers.save(tokenizer, output);
    double seconds = (System.nanoTime() - started) / 1e9;
    out.printf(
        Locale.ROOT,
        "%s: vocab %d (%d merges), trained on %d documents in %.1f s%n",
        output,
        tokenizer.vocabSize(),
        trainer.mergeCount(),
        counts.documents(),
        seconds);
    if (counts.badLines() > 0) {
      out.printf(Locale.ROOT, "%d bad line(s) skipped%n", counts.badLines());
    }
    return 0;
  }
}
