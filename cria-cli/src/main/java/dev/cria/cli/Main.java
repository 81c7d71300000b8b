package dev.cria.cli;

import java.io.PrintWriter;

/** Entry point of the runnable jar: {@code java -jar cria.jar ARGS}. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
  }

  /**
   * Runs cria with {@code args}, printing to {@code out} and {@code err}; returns the exit code.
   */
  public static int run(String[] args, PrintWriter out, PrintWriter err) {
    return CriaCommand.commandLine(out, err).execute(args);
  }
}
