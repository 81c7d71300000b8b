package dev.cria.data.prepare;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * Streams the texts under one key of JSONL(.gz) files, in order, with the same parsing rules as
 * {@code prepare} (blank lines skipped; a bad line fails, naming file and line, unless skipped).
 * For single-threaded consumers such as the tokenizer trainer.
 */
public final class JsonlTexts {
  private JsonlTexts() {}

  /**
   * What was read.
   *
   * @param documents texts handed to the consumer
   * @param badLines bad lines skipped
   * @param bytes input bytes consumed, as stored
   */
  public record Counts(long documents, long badLines, long bytes) {}

  /**
   * Hands every text to {@code sink}; {@code progress} (may be null) gets the input bytes consumed
   * and the total after each batch of lines.
   */
  public static Counts forEach(
      List<Path> files,
      String key,
      boolean skipBadLines,
      Consumer<String> sink,
      ProgressListener progress)
      throws IOException {
    JsonLineParser parser = new JsonLineParser(List.of(key));
    String[] text = new String[1];
    long documents = 0;
    long bad = 0;
    long total = JsonlReader.totalBytes(files);
    long done = 0;
    try (JsonlReader reader = new JsonlReader(files, 1 << 20)) {
      LineBatch batch;
      while ((batch = reader.next()) != null) {
        for (int line = 0; line < batch.count(); line++) {
          int from = batch.starts()[line];
          int to = batch.ends()[line];
          if (JsonLineParser.isBlank(batch.data(), from, to)) {
            continue;
          }
          try {
            parser.parse(batch.data(), from, to, text, batch.file(), batch.firstLine() + line);
          } catch (BadInputException e) {
            if (!skipBadLines) {
              throw e;
            }
            bad++;
            continue;
          }
          sink.accept(text[0]);
          documents++;
        }
        done = batch.inputBytesDone();
        if (progress != null) {
          progress.update(done, total);
        }
      }
    }
    return new Counts(documents, bad, done);
  }

  /** Receives (bytes done, bytes in all) as reading advances. */
  @FunctionalInterface
  public interface ProgressListener {
    void update(long done, long total);
  }
}
