package dev.cria.data.prepare;

import dev.cria.data.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@link PreparePipeline} does.
 *
 * @param inputs JSONL or JSONL.gz files, read in this order
 * @param outputPrefix datasets go to {@code PREFIX_<key>_document.bin/.idx}
 * @param tokenizer the tokenizer
 * @param jsonKeys the keys to tokenize; one dataset each
 * @param appendEod put EOS after every non-empty document
 * @param workers tokenizing threads
 * @param skipBadLines count and skip bad lines instead of failing on the first
 * @param batchBytes about how many input bytes one worker task takes
 * @param part which part of the inputs' lines to prepare ({@link Part#WHOLE}: all of them)
 */
public record PrepareOptions(
    List<Path> inputs,
    Path outputPrefix,
    Tokenizer tokenizer,
    List<String> jsonKeys,
    boolean appendEod,
    int workers,
    boolean skipBadLines,
    int batchBytes,
    Part part) {

  public PrepareOptions {
    inputs = List.copyOf(inputs);
    jsonKeys = List.copyOf(jsonKeys);
    if (inputs.isEmpty()) {
      throw new IllegalArgumentException("no input files");
    }
    if (jsonKeys.isEmpty() || jsonKeys.stream().anyMatch(String::isBlank)) {
      throw new IllegalArgumentException("json keys must be non-empty names, got " + jsonKeys);
    }
    if (jsonKeys.stream().distinct().count() != jsonKeys.size()) {
      throw new IllegalArgumentException("json keys repeat: " + jsonKeys);
    }
    if (workers < 1) {
      throw new IllegalArgumentException("workers must be at least 1, got " + workers);
    }
    if (batchBytes < 1) {
      throw new IllegalArgumentException("batchBytes must be positive");
    }
    java.util.Objects.requireNonNull(part, "part");
  }

  /** Options with NeMo's defaults for the rest: key "text", 256 KiB batches. */
  public static PrepareOptions of(
      List<Path> inputs, Path outputPrefix, Tokenizer tokenizer, int workers) {
    return new PrepareOptions(
        inputs,
        outputPrefix,
        tokenizer,
        List.of("text"),
        false,
        workers,
        false,
        1 << 18,
        Part.WHOLE);
  }

  public PrepareOptions withJsonKeys(List<String> keys) {
    return new PrepareOptions(
        inputs, outputPrefix, tokenizer, keys, appendEod, workers, skipBadLines, batchBytes, part);
  }

  public PrepareOptions withAppendEod(boolean append) {
    return new PrepareOptions(
        inputs, outputPrefix, tokenizer, jsonKeys, append, workers, skipBadLines, batchBytes, part);
  }

  public PrepareOptions withSkipBadLines(boolean skip) {
    return new PrepareOptions(
        inputs, outputPrefix, tokenizer, jsonKeys, appendEod, workers, skip, batchBytes, part);
  }

  public PrepareOptions withBatchBytes(int bytes) {
    return new PrepareOptions(
        inputs, outputPrefix, tokenizer, jsonKeys, appendEod, workers, skipBadLines, bytes, part);
  }

  public PrepareOptions withPart(Part p) {
    return new PrepareOptions(
        inputs, outputPrefix, tokenizer, jsonKeys, appendEod, workers, skipBadLines, batchBytes, p);
  }

  /** The dataset prefix for {@code key}: {@code PREFIX_<key>_document}, as NeMo names it. */
  public Path datasetPrefix(String key) {
    return outputPrefix.resolveSibling(outputPrefix.getFileName() + "_" + key + "_document");
  }
}
