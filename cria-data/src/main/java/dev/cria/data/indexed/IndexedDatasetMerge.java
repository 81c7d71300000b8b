package dev.cria.data.indexed;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Megatron's {@code merge_datasets.py}: datasets of one dtype concatenated, in the order given,
 * into one, every document and sequence kept. Parts of a corpus prepared apart ({@code cria prepare
 * --part I/N}) merge into the dataset one prepare of the whole writes, byte for byte.
 */
public final class IndexedDatasetMerge {
  private IndexedDatasetMerge() {}

  /** Told how far a merge has come: tokens copied of all the inputs hold. */
  public interface Progress {
    void tokens(long done, long total);
  }

  private static final long REPORT_EVERY = 1 << 22; // tokens

  /** What a merge wrote. */
  public record Result(Path prefix, TokenDtype dtype, long documents, long tokens) {}

  /** Told, while waiting for inputs, which are still missing. */
  public interface Waiting {
    void missing(List<Path> missing, int of);
  }

  /**
   * Waits until every one of {@code inputs} (dataset prefixes) is there, as the parts of a prepare
   * run elsewhere appear: a dataset is there once its {@code .idx} is, which a writer renames into
   * place after its {@code .bin} ({@link IndexedDatasetWriter#commit()}). Polls every {@code
   * every}; {@code waiting} hears the missing ones when their count changes.
   *
   * @throws IndexedDatasetException naming the missing ones when {@code patience} has passed
   */
  public static void awaitInputs(
      List<Path> inputs, Duration patience, Duration every, Waiting waiting)
      throws InterruptedException {
    awaitInputs(inputs, patience, every, waiting, () -> null);
  }

  /**
   * As above, asking {@code giveUp} at every poll whether waiting is pointless (a part that will
   * never come): it answers why, or null to wait on.
   *
   * @throws IndexedDatasetException with {@code giveUp}'s reason as soon as it has one
   */
  public static void awaitInputs(
      List<Path> inputs,
      Duration patience,
      Duration every,
      Waiting waiting,
      java.util.function.Supplier<String> giveUp)
      throws InterruptedException {
    long deadline = System.nanoTime() + patience.toNanos();
    int reported = -1;
    while (true) {
      List<Path> missing =
          inputs.stream()
              .filter(p -> !Files.isRegularFile(IndexedDatasetFormat.idxPath(p)))
              .toList();
      if (missing.size() != reported && waiting != null) {
        waiting.missing(missing, inputs.size());
        reported = missing.size();
      }
      if (missing.isEmpty()) {
        return;
      }
      String pointless = giveUp.get();
      if (pointless != null) {
        throw new IndexedDatasetException(pointless);
      }
      if (System.nanoTime() > deadline) {
        throw new IndexedDatasetException(
            missing.size()
                + " of "
                + inputs.size()
                + " dataset(s) still missing after "
                + patience.toSeconds()
                + " s: "
                + String.join(", ", missing.stream().map(Path::toString).toList()));
      }
      Thread.sleep(every.toMillis());
    }
  }

  /**
   * Why waiting for parts is pointless: a part whose failure log in {@code dir} (a file per part, a
   * line per failed attempt, as the prepare Jobs write them) has {@code attempts} lines, named with
   * its last line; null while every part may still come, or when {@code dir} is null or absent.
   */
  public static String failedPart(Path dir, int attempts) {
    if (dir == null || !Files.isDirectory(dir)) {
      return null;
    }
    try (var logs = Files.list(dir)) {
      for (Path log : logs.sorted().toList()) {
        List<String> lines = Files.readAllLines(log).stream().filter(l -> !l.isBlank()).toList();
        if (lines.size() >= attempts) {
          return log.getFileName()
              + " failed "
              + lines.size()
              + " time(s), the last: "
              + lines.getLast()
              + "; its job has given up on it, so the merge does too";
        }
      }
    } catch (java.io.IOException e) {
      return null; // a log being written: the next poll reads it
    }
    return null;
  }

  /**
   * Merges {@code inputs} (dataset prefixes) into {@code output}, committed atomically; nothing is
   * written when an input is missing, malformed or of another dtype than the first.
   *
   * @param progress told the tokens copied about every 4M tokens and after each input; may be null
   */
  public static Result merge(List<Path> inputs, Path output, Progress progress) throws IOException {
    if (inputs.isEmpty()) {
      throw new IllegalArgumentException("no datasets to merge");
    }
    Path target = output.toAbsolutePath().normalize();
    List<IndexedDataset> open = new ArrayList<>();
    try {
      for (Path p : inputs) {
        if (p.toAbsolutePath().normalize().equals(target)) {
          throw new IndexedDatasetException(
              p + ": the merged dataset cannot also be one of its inputs");
        }
        IndexedDataset ds = IndexedDataset.open(p);
        open.add(ds);
        if (ds.documentIndex(ds.documentCount()) != ds.sequenceCount()) {
          throw new IndexedDatasetException(
              p
                  + ".idx: its documents end at sequence "
                  + ds.documentIndex(ds.documentCount())
                  + " of "
                  + ds.sequenceCount()
                  + "; a merge would lose the rest");
        }
        if (ds.dtype() != open.getFirst().dtype()) {
          throw new IndexedDatasetException(
              p
                  + ".idx: dtype "
                  + ds.dtype()
                  + ", but "
                  + open.getFirst().prefix()
                  + ".idx has "
                  + open.getFirst().dtype()
                  + " (were they prepared with the same tokenizer?)");
        }
      }
      TokenDtype dtype = open.getFirst().dtype();
      long total = open.stream().mapToLong(IndexedDataset::tokenCount).sum();
      long tokens = 0;
      long reported = 0;
      try (IndexedDatasetWriter writer = IndexedDatasetWriter.create(output, dtype)) {
        int[] buffer = new int[1 << 16];
        for (IndexedDataset ds : open) {
          for (long d = 0; d < ds.documentCount(); d++) {
            for (long s = ds.documentIndex(d); s < ds.documentIndex(d + 1); s++) {
              int size = ds.size(s);
              if (size > buffer.length) {
                buffer = new int[Math.max(size, 2 * buffer.length)];
              }
              ds.read(s, 0, size, buffer, 0);
              writer.addSequence(buffer, 0, size);
              tokens += size;
            }
            writer.endDocument();
            if (progress != null && tokens - reported >= REPORT_EVERY) {
              progress.tokens(tokens, total);
              reported = tokens;
            }
          }
          if (progress != null) {
            progress.tokens(tokens, total);
            reported = tokens;
          }
        }
        long documents = writer.documentCount();
        writer.commit();
        return new Result(output, dtype, documents, tokens);
      }
    } finally {
      for (IndexedDataset ds : open) {
        ds.close();
      }
    }
  }
}
