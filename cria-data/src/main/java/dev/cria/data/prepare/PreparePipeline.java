package dev.cria.data.prepare;

import dev.cria.data.indexed.IndexedDatasetWriter;
import dev.cria.data.indexed.TokenDtype;
import dev.cria.data.tokenizer.IntList;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Runs {@code prepare}: the calling thread reads line batches and writes results in input order;
 * {@code workers} threads parse and tokenize. At most {@code 2 x workers + 2} batches are in
 * flight, so memory stays bounded whatever the corpus size.
 *
 * <p>With a {@link Part} of several, the lines are counted first (a read of every input, no
 * tokenizing) and only the part's lines are tokenized.
 *
 * <p>Outputs are committed only when every input has been read without error; on failure or
 * interruption the temporary files are deleted and any dataset already at the prefix is untouched.
 */
public final class PreparePipeline {
  private static final int MAX_BAD_LINE_EXAMPLES = 10;

  private PreparePipeline() {}

  /**
   * Prepares the datasets.
   *
   * @param progress called after each batch is written (on the calling thread); may be null
   * @throws BadInputException for the first bad line, unless skipping bad lines
   * @throws IOException when an input cannot be read or an output cannot be written
   */
  public static PrepareSummary run(PrepareOptions options, Consumer<PrepareProgress> progress)
      throws IOException, InterruptedException {
    long started = System.nanoTime();
    long inputBytesTotal = JsonlReader.totalBytes(options.inputs());
    List<String> keys = options.jsonKeys();
    TokenDtype dtype = TokenDtype.forVocabulary(options.tokenizer().vocabSize());
    DocumentEncoder encoder =
        new DocumentEncoder(options.tokenizer(), keys, options.appendEod(), options.skipBadLines());

    List<IndexedDatasetWriter> writers = new ArrayList<>();
    long[] empty = new long[keys.size()];
    long lines = 0;
    long blank = 0;
    long bad = 0;
    long textBytes = 0;
    long tokens = 0;
    List<String> badExamples = new ArrayList<>();
    AtomicInteger threadNumber = new AtomicInteger();
    ExecutorService pool =
        Executors.newFixedThreadPool(
            options.workers(),
            r -> {
              Thread t = new Thread(r, "prepare-worker-" + threadNumber.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    Thread cleanup = new Thread(() -> abandon(writers), "prepare-cleanup");
    Runtime.getRuntime().addShutdownHook(cleanup);
    boolean committed = false;
    Part part = options.part();
    long allLines = part.isWhole() ? 0 : JsonlReader.countLines(options.inputs());
    try (JsonlReader reader =
        part.isWhole()
            ? new JsonlReader(options.inputs(), options.batchBytes())
            : new JsonlReader(
                options.inputs(),
                options.batchBytes(),
                part.firstLine(allLines),
                part.endLine(allLines))) {
      for (String key : keys) {
        writers.add(IndexedDatasetWriter.create(options.datasetPrefix(key), dtype));
      }
      ArrayDeque<Future<EncodedBatch>> inFlight = new ArrayDeque<>();
      int maxInFlight = 2 * options.workers() + 2;
      boolean moreInput = true;
      while (moreInput || !inFlight.isEmpty()) {
        while (moreInput && inFlight.size() < maxInFlight) {
          LineBatch batch = reader.next();
          if (batch == null) {
            moreInput = false;
          } else {
            inFlight.add(pool.submit(() -> encoder.encode(batch)));
          }
        }
        if (inFlight.isEmpty()) {
          break;
        }
        EncodedBatch done = await(inFlight.poll());
        for (int k = 0; k < keys.size(); k++) {
          tokens += write(writers.get(k), done.tokens()[k], done.lengths()[k], empty, k);
        }
        lines += done.documents();
        blank += done.blankLines();
        bad += done.badLines().size();
        textBytes += done.textBytes();
        for (BadInputException e : done.badLines()) {
          if (badExamples.size() < MAX_BAD_LINE_EXAMPLES) {
            badExamples.add(e.getMessage());
          }
        }
        if (progress != null) {
          progress.accept(
              new PrepareProgress(
                  lines,
                  tokens,
                  textBytes,
                  done.inputBytesDone(),
                  inputBytesTotal,
                  seconds(started)));
        }
      }
      // a part may hold no document (more parts than lines): an empty dataset merges as nothing
      if (part.isWhole() && writers.stream().allMatch(w -> w.documentCount() == 0)) {
        throw new NoDocumentsException(
            "no documents in "
                + options.inputs()
                + ": no line has a non-empty "
                + String.join(" or ", keys)
                + " ("
                + lines
                + " line(s) read); nothing was written");
      }
      List<PrepareSummary.Dataset> datasets = new ArrayList<>();
      for (int k = 0; k < keys.size(); k++) {
        IndexedDatasetWriter w = writers.get(k);
        w.commit();
        datasets.add(
            new PrepareSummary.Dataset(
                keys.get(k),
                options.datasetPrefix(keys.get(k)),
                w.documentCount(),
                empty[k],
                w.tokenCount()));
      }
      committed = true;
      return new PrepareSummary(
          lines, blank, bad, List.copyOf(badExamples), datasets, textBytes, seconds(started));
    } finally {
      pool.shutdownNow();
      if (!committed) {
        abandon(writers);
      }
      try {
        Runtime.getRuntime().removeShutdownHook(cleanup);
      } catch (IllegalStateException shuttingDown) {
        // the hook runs anyway
      }
    }
  }

  private static long write(
      IndexedDatasetWriter writer, IntList tokens, IntList lengths, long[] empty, int key)
      throws IOException {
    int[] ids = tokens.rawArray();
    int offset = 0;
    for (int d = 0; d < lengths.size(); d++) {
      int length = lengths.get(d);
      if (length == 0) {
        empty[key]++;
        continue;
      }
      writer.addSequence(ids, offset, length);
      writer.endDocument();
      offset += length;
    }
    return offset;
  }

  private static EncodedBatch await(Future<EncodedBatch> future)
      throws IOException, InterruptedException {
    try {
      return future.get();
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof BadInputException bad) {
        throw bad;
      }
      if (cause instanceof IOException io) {
        throw io;
      }
      if (cause instanceof UncheckedIOException io) {
        throw io.getCause();
      }
      if (cause instanceof RuntimeException re) {
        throw re;
      }
      if (cause instanceof Error error) {
        throw error;
      }
      throw new IllegalStateException(cause);
    }
  }

  private static synchronized void abandon(List<IndexedDatasetWriter> writers) {
    for (IndexedDatasetWriter w : writers) {
      try {
        w.close();
      } catch (IOException | RuntimeException ignored) {
        // best effort: deleting temporary files
      }
    }
  }

  private static double seconds(long startedNanos) {
    return (System.nanoTime() - startedNanos) / 1e9;
  }
}
