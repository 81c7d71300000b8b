package dev.cria.cli.data;

import dev.cria.cli.UserError;
import dev.cria.data.indexed.IndexedDataset;
import dev.cria.data.indexed.IndexedDatasetWriter;
import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria data}: look at prepared datasets. */
@Command(
    name = "data",
    mixinStandardHelpOptions = true,
    description = "Inspect and merge prepared Megatron datasets.",
    subcommands = {DataCommand.Inspect.class, MergeCommand.class})
public final class DataCommand implements Runnable {
  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** A dataset prefix given as itself or as its {@code .bin} or {@code .idx} file. */
  static Path prefixOf(Path p) {
    String name = p.getFileName().toString();
    if (name.endsWith(".bin") || name.endsWith(".idx")) {
      return p.resolveSibling(name.substring(0, name.length() - 4));
    }
    return p;
  }

  /**
   * Refuses to write over a dataset already at {@code prefix} unless {@code overwrite}: what
   * prepare and merge check before they read anything.
   */
  static void requireNewDataset(Path prefix, boolean overwrite) {
    if (!overwrite && IndexedDatasetWriter.existsAt(prefix)) {
      throw new UserError(
          prefix
              + ".bin/.idx already exists: pass --overwrite to replace it, or give another"
              + " --output-prefix (nothing was written)");
    }
  }

  /** {@code cria data inspect PREFIX}: counts, a length histogram and a sample. */
  @Command(
      name = "inspect",
      mixinStandardHelpOptions = true,
      description =
          "Documents, tokens, a document-length histogram and a decoded sample of a dataset.")
  static final class Inspect implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Parameters(
        paramLabel = "PREFIX",
        description = "Dataset prefix (PREFIX.bin/.idx), e.g. out/brown_text_document.")
    Path prefix;

    @Option(
        names = "--tokenizer",
        paramLabel = "PATH",
        description = "Decode the sample with this tokenizer.")
    Path tokenizer;

    @Option(
        names = "--sample",
        defaultValue = "0",
        paramLabel = "DOC",
        description = "Which document to show (default: ${DEFAULT-VALUE}).")
    long sample;

    @Option(
        names = "--sample-tokens",
        defaultValue = "64",
        paramLabel = "N",
        description = "Show at most N tokens of it (default: ${DEFAULT-VALUE}).")
    int sampleTokens;

    @Override
    public Integer call() throws Exception {
      PrintWriter out = spec.commandLine().getOut();
      Path base = prefixOf(prefix);
      try (IndexedDataset ds = IndexedDataset.open(base)) {
        long docs = ds.documentCount();
        out.printf(Locale.ROOT, "dataset    %s.{bin,idx} (Megatron MMIDIDX v1)%n", base);
        out.printf(Locale.ROOT, "dtype      %s%n", ds.dtype().name().toLowerCase(Locale.ROOT));
        out.printf(Locale.ROOT, "documents  %d (%d sequences)%n", docs, ds.sequenceCount());
        out.printf(Locale.ROOT, "tokens     %d%n", ds.tokenCount());
        if (ds.sequenceCount() == 0) {
          return 0;
        }
        long[] lengths = new long[(int) Math.min(ds.documentCount(), Integer.MAX_VALUE)];
        for (int d = 0; d < lengths.length; d++) {
          long n = 0;
          for (long s = ds.documentIndex(d); s < ds.documentIndex(d + 1); s++) {
            n += ds.size(s);
          }
          lengths[d] = n;
        }
        long[] sorted = lengths.clone();
        Arrays.sort(sorted);
        out.printf(
            Locale.ROOT,
            "length     min %d, median %d, mean %.1f, p99 %d, max %d tokens%n",
            sorted[0],
            sorted[sorted.length / 2],
            ds.tokenCount() / (double) sorted.length,
            sorted[(int) Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))],
            sorted[sorted.length - 1]);
        printHistogram(out, sorted);
        if (sample < 0 || sample >= docs) {
          out.printf(
              Locale.ROOT, "sample     document %d does not exist (0..%d)%n", sample, docs - 1);
          return 1;
        }
        long first = ds.documentIndex(sample);
        int[] ids = ds.sequence(first);
        int[] shown = Arrays.copyOf(ids, Math.min(ids.length, sampleTokens));
        out.printf(
            Locale.ROOT,
            "sample     document %d, first %d of %d tokens of its first sequence:%n",
            sample,
            shown.length,
            ids.length);
        out.println("  ids   " + Arrays.toString(shown));
        if (tokenizer != null) {
          Tokenizer tok = Tokenizers.load(tokenizer);
          int outside =
              Arrays.stream(shown).filter(id -> id >= tok.vocabSize()).findFirst().orElse(-1);
          if (outside >= 0) {
            throw new UserError(
                "token id "
                    + outside
                    + " of "
                    + base
                    + " is outside the "
                    + tok.vocabSize()
                    + " tokens of --tokenizer "
                    + tokenizer
                    + ": was the data prepared with another tokenizer?");
          }
          out.println("  text  " + tok.decode(shown).replace("\n", "\\n"));
        }
      }
      return 0;
    }

    /**
     * Ten equal-width buckets of document length with a bar each; power-of-two buckets instead when
     * the lengths are heavy-tailed (the longest over eight times the median).
     */
    private static void printHistogram(PrintWriter out, long[] sorted) {
      long min = sorted[0];
      long max = sorted[sorted.length - 1];
      boolean logarithmic = max > 8 * Math.max(1, sorted[sorted.length / 2]);
      int buckets = logarithmic ? 64 - Long.numberOfLeadingZeros(Math.max(1, max)) + 1 : 10;
      long width = Math.max(1, (max - min + buckets) / buckets);
      long[] counts = new long[buckets];
      for (long n : sorted) {
        int b =
            logarithmic
                ? (n == 0 ? 0 : 64 - Long.numberOfLeadingZeros(n))
                : (int) ((n - min) / width);
        counts[Math.min(b, buckets - 1)]++;
      }
      long most = Arrays.stream(counts).max().orElse(1);
      out.println("histogram  (document length in tokens)");
      for (int b = 0; b < buckets; b++) {
        if (counts[b] == 0 && logarithmic) {
          continue;
        }
        long lo = logarithmic ? (b == 0 ? 0 : 1L << (b - 1)) : min + b * width;
        long hi = logarithmic ? (b == 0 ? 0 : (1L << b) - 1) : lo + width - 1;
        int bar = counts[b] == 0 ? 0 : (int) Math.max(1, Math.round(40.0 * counts[b] / most));
        out.printf(Locale.ROOT, "  %8d-%-8d %8d %s%n", lo, hi, counts[b], "#".repeat(bar));
      }
    }
  }
}
