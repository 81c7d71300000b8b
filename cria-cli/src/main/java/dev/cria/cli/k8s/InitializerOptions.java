package dev.cria.cli.k8s;

import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The TrainJob's prepare steps, as flags ({@code render|submit train} alone): the corpus to
 * tokenize into the run's data prefix before the nodes start, and how many pods, threads and
 * retries.
 */
public final class InitializerOptions {
  @Option(
      names = "--prepare-input",
      paramLabel = "PATH",
      description =
          "Prepare the run's dataset first, as the TrainJob's initializer steps: JSONL files,"
              + " directories or globs on the shared volume, repeatable; tokenized with the"
              + " run's --tokenizer into its --data-prefix (PREFIX_<key>_document). Skipped"
              + " where the dataset is there. Implies --kind trainjob.")
  List<String> inputs = new ArrayList<>();

  @Option(
      names = "--prepare-parts",
      paramLabel = "N",
      defaultValue = "1",
      description = "Pods tokenizing a part each (default: ${DEFAULT-VALUE}).")
  int parts = 1;

  @Option(
      names = "--prepare-threads",
      paramLabel = "T",
      description = "Tokenizing threads per pod (default: the pod's cores).")
  Integer threads;

  @Option(
      names = "--prepare-retries",
      paramLabel = "R",
      defaultValue = "3",
      description = "Retries of one failed part (default: ${DEFAULT-VALUE}).")
  int retries = 3;

  @Option(
      names = "--prepare-append-eod",
      description = "Append the EOS token to every document (Megatron's --append-eod).")
  boolean appendEod;
}
