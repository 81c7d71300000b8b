package dev.cria.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.ParseResult;

/**
 * Turns an exception from a command into one clear line on stderr and exit code 1; the stack trace
 * only with {@code --verbose}.
 */
final class ErrorHandler implements IExecutionExceptionHandler {
  @Override
  public int handleExecutionException(Exception e, CommandLine cl, ParseResult parsed) {
    boolean verbose =
        parsed.hasMatchedOption("--verbose") || (parsed.subcommand() != null && anyVerbose(parsed));
    cl.getErr().println("cria: " + message(e));
    if (verbose) {
      e.printStackTrace(cl.getErr());
    } else if (!(e instanceof IOException) && !(e instanceof UserError) && isBug(e)) {
      cl.getErr()
          .println("cria: (this looks like a bug; run again with --verbose for the stack trace)");
    }
    cl.getErr().flush();
    if (e instanceof InterruptedException) {
      return 130;
    }
    return 1;
  }

  private static boolean anyVerbose(ParseResult parsed) {
    for (ParseResult p = parsed; p != null; p = p.subcommand()) {
      if (p.hasMatchedOption("--verbose")) {
        return true;
      }
    }
    return false;
  }

  private static boolean isBug(Exception e) {
    return e instanceof NullPointerException
        || e instanceof IllegalStateException
        || e instanceof IndexOutOfBoundsException
        || e instanceof ClassCastException;
  }

  static String message(Throwable e) {
    if (e instanceof UncheckedIOException u) {
      return message(u.getCause());
    }
    if (e instanceof NoSuchFileException n) {
      return n.getFile() + ": " + (n.getReason() != null ? n.getReason() : "no such file");
    }
    if (e instanceof AccessDeniedException a) {
      return a.getFile() + ": permission denied";
    }
    if (e instanceof FileAlreadyExistsException f) {
      return f.getFile() + ": already exists";
    }
    if (e instanceof InterruptedException) {
      return "interrupted";
    }
    String m = e.getMessage();
    return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
  }
}
