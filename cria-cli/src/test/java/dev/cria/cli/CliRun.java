package dev.cria.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

/** Runs the cria command line in-process and captures what it prints. */
public record CliRun(int exitCode, String out, String err) {
  public static CliRun of(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    return new CliRun(code, out.toString(), err.toString());
  }

  /** The repository root (the parent of the cria-cli module). */
  public static Path repositoryRoot() {
    Path here = Path.of("").toAbsolutePath();
    return Files.isDirectory(here.resolve("cria-cli")) ? here : here.getParent();
  }

  /**
   * The shared data directory: {@code -Dcria.shared} (the build sets it), else {@code ../shared}
   * beside the repository; may not exist.
   */
  public static Path shared() {
    String configured = System.getProperty("cria.shared");
    Path dir = configured != null ? Path.of(configured) : repositoryRoot().resolve("../shared");
    return dir.toAbsolutePath().normalize();
  }

  /**
   * A tokenizer of {@code vocabSize} pieces trained on the sample corpus into {@code output}, as
   * {@code cria tokenizer train} makes one; fails the test when it cannot be made.
   */
  public static Path trainedTokenizer(Path output, int vocabSize) {
    CliRun run =
        of(
            "tokenizer",
            "train",
            "--input",
            sampleCorpus().toString(),
            "--vocab-size",
            Integer.toString(vocabSize),
            "--output",
            output.toString());
    if (run.exitCode() != 0) {
      throw new AssertionError("cria tokenizer train failed: " + run.err());
    }
    return output;
  }

  /** The bundled sample corpus. */
  public static Path sampleCorpus() {
    return repositoryRoot().resolve("data/sample/brown.jsonl.gz");
  }
}
