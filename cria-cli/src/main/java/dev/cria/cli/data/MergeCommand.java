package dev.cria.cli.data;

import dev.cria.cli.UserError;
import dev.cria.cli.progress.StatusLine;
import dev.cria.data.indexed.IndexedDatasetException;
import dev.cria.data.indexed.IndexedDatasetMerge;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria data merge}: Megatron's {@code merge_datasets.py}. */
@Command(
    name = "merge",
    mixinStandardHelpOptions = true,
    description = {
      "Concatenate datasets (PREFIX.bin/.idx), in the order given, into one, as Megatron's"
          + " merge_datasets.py does.",
      "The parts of `cria prepare --part I/N`, given in index order, merge into the dataset one"
          + " prepare of the whole writes, byte for byte."
    })
final class MergeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(
      paramLabel = "PREFIX",
      arity = "1..*",
      description = "Datasets to merge, in order (e.g. parts/brown-0_text_document).")
  List<Path> inputs;

  @Option(
      names = "--output-prefix",
      required = true,
      paramLabel = "PREFIX",
      description = "The merged dataset: PREFIX.bin/.idx, written atomically.")
  Path output;

  @Option(
      names = "--overwrite",
      description = "Replace a dataset already at the output prefix (else it is kept).")
  boolean overwrite;

  @Option(
      names = "--wait",
      paramLabel = "SECONDS",
      description =
          "Wait up to SECONDS for datasets that are not there yet (parts still being prepared"
              + " elsewhere, as on a cluster), then merge (default: 0, merge what is there now).")
  long waitSeconds;

  @Option(
      names = "--failures",
      paramLabel = "DIR",
      description =
          "With --wait: a directory where each part's failed attempts are logged, a line each, in"
              + " a file per part; give up as soon as one has --attempts lines (its job has given"
              + " up on it).")
  Path failures;

  @Option(
      names = "--attempts",
      paramLabel = "N",
      defaultValue = "1",
      description = "With --failures: the attempts a part gets (default: ${DEFAULT-VALUE}).")
  int attempts;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    List<Path> prefixes = inputs.stream().map(DataCommand::prefixOf).toList();
    DataCommand.requireNewDataset(DataCommand.prefixOf(output), overwrite);
    if (waitSeconds < 0 || attempts < 1 || (failures != null && waitSeconds == 0)) {
      throw new UserError(
          waitSeconds < 0
              ? "--wait " + waitSeconds + ": seconds, 0 or more"
              : attempts < 1
                  ? "--attempts " + attempts + ": at least 1"
                  : "--failures is read while waiting: give --wait SECONDS too");
    }
    if (waitSeconds > 0) {
      try {
        IndexedDatasetMerge.awaitInputs(
            prefixes,
            java.time.Duration.ofSeconds(waitSeconds),
            java.time.Duration.ofSeconds(2),
            (missing, of) -> {
              out.println(
                  missing.isEmpty()
                      ? "merge: all " + of + " dataset(s) are there"
                      : "merge: waiting for "
                          + missing.size()
                          + " of "
                          + of
                          + " dataset(s), first "
                          + missing.getFirst());
              out.flush();
            },
            () -> IndexedDatasetMerge.failedPart(failures, attempts));
      } catch (IndexedDatasetException e) {
        throw new UserError(e.getMessage() + " (nothing was written)");
      }
    }
    IndexedDatasetMerge.Result r;
    StatusLine status = StatusLine.forConsole(spec.commandLine().getErr());
    long started = System.nanoTime();
    try {
      r =
          IndexedDatasetMerge.merge(
              prefixes,
              DataCommand.prefixOf(output),
              (done, total) -> {
                double fraction = total == 0 ? 1 : done / (double) total;
                double seconds = (System.nanoTime() - started) / 1e9;
                status.update(
                    String.format(
                        Locale.ROOT,
                        "merge %s %s of %s tokens ETA %s",
                        StatusLine.bar(fraction, 24),
                        StatusLine.count(done),
                        StatusLine.count(total),
                        StatusLine.duration(
                            fraction > 0 ? seconds / fraction - seconds : Double.NaN)),
                    false);
              });
    } catch (IndexedDatasetException e) {
      throw new UserError(e.getMessage() + " (nothing was written)");
    } finally {
      status.finish();
    }
    out.printf(
        Locale.ROOT,
        "%s.bin/.idx: %d documents, %d tokens (%s) from %d dataset(s)%n",
        r.prefix(),
        r.documents(),
        r.tokens(),
        r.dtype().name().toLowerCase(Locale.ROOT),
        prefixes.size());
    return 0;
  }
}
