package dev.cria.data.gpt;

import dev.cria.core.io.AtomicFiles;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.function.LongToIntFunction;

/**
 * Keeps built {@link GptIndices} on disk, named as Megatron names its cache: {@code
 * <md5>-GPTDataset-<split>-{description.txt,document_index.npy,sample_index.npy,shuffle_index.npy}}.
 * The hash is of a description of every input (data files with their size and time, split, seed,
 * sequence length, samples); the description is compared in full before a cache entry is used.
 *
 * <p>Each file is written atomically and the description last, so an entry is either complete or
 * ignored. Processes that start at once may build the same entry twice; they write identical bytes,
 * and every rename leaves a complete file, so that race is harmless.
 */
public final class GptIndexCache {
  private final Path directory;

  public GptIndexCache(Path directory) {
    this.directory = directory;
  }

  public Path directory() {
    return directory;
  }

  /** Whether the cache held the indices (for the log line). */
  public record Loaded(GptIndices indices, boolean fromCache, Path description) {}

  /**
   * The indices for {@code request}, described by {@code description}: read from the cache when an
   * entry matches, else built and stored.
   */
  public Loaded load(
      String description, Split split, GptIndexBuilder.Request request, LongToIntFunction sizes)
      throws IOException {
    String base = md5(description) + "-GPTDataset-" + split.label() + "-";
    Path descriptionFile = directory.resolve(base + "description.txt");
    Path documents = directory.resolve(base + "document_index.npy");
    Path samples = directory.resolve(base + "sample_index.npy");
    Path shuffle = directory.resolve(base + "shuffle_index.npy");
    if (Files.isRegularFile(descriptionFile)
        && Files.readString(descriptionFile, StandardCharsets.UTF_8).equals(description)) {
      try {
        long[] doc = NpyArrays.read(documents);
        int[] docInts = new int[doc.length];
        for (int i = 0; i < doc.length; i++) {
          docInts[i] = Math.toIntExact(doc[i]);
        }
        long[] sampleIndex = NpyArrays.read(samples);
        long[] shuffleIndex = NpyArrays.read(shuffle);
        if (sampleIndex.length % 2 == 0 && shuffleIndex.length <= sampleIndex.length / 2 - 1) {
          GptIndexBuilder.Plan plan = GptIndexBuilder.plan(request, sizes);
          return new Loaded(
              new GptIndices(
                  docInts,
                  sampleIndex,
                  shuffleIndex,
                  plan.epochs(),
                  plan.tokensPerEpoch(),
                  plan.separateFinalEpoch()),
              true,
              descriptionFile);
        }
      } catch (IOException | ArithmeticException e) {
        // A damaged entry is rebuilt below.
      }
    }
    GptIndices built = GptIndexBuilder.build(request, sizes);
    Files.createDirectories(directory);
    NpyArrays.write(documents, NpyArrays.Dtype.INT32, toLongs(built.documentIndex()), 1);
    long maxSample = 0;
    for (long v : built.sampleIndex()) {
      maxSample = Math.max(maxSample, v);
    }
    NpyArrays.write(samples, NpyArrays.Dtype.signedFor(0, maxSample), built.sampleIndex(), 2);
    NpyArrays.write(
        shuffle,
        built.samples() >= 0xFFFFFFFFL - 1 ? NpyArrays.Dtype.INT64 : NpyArrays.Dtype.UINT32,
        built.shuffleIndex(),
        1);
    AtomicFiles.writeString(descriptionFile, description);
    return new Loaded(built, false, descriptionFile);
  }

  private static long[] toLongs(int[] values) {
    long[] out = new long[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = values[i];
    }
    return out;
  }

  static String md5(String text) {
    try {
      byte[] digest =
          MessageDigest.getInstance("MD5").digest(text.getBytes(StandardCharsets.UTF_8));
      return String.format("%032x", new BigInteger(1, digest));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
