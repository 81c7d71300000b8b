package dev.cria.cli;

import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * A lifecycle step that cria does not do yet. Running it says so plainly and exits with 3, rather
 * than pretending; the help lists these apart from the working commands.
 */
@Command(hidden = true, description = "Not built yet.")
final class NotBuiltCommand implements Callable<Integer> {
  /** A planned command and what it will do. */
  record Planned(String name, String summary) {}

  static final List<Planned> PLANNED =
      List.of(new Planned("compile", "memory plan and kernel tuning for the target hardware"));

  private final Planned planned;

  @Spec CommandSpec spec;

  @Unmatched List<String> ignored;

  @Parameters(hidden = true, arity = "0..*")
  List<String> arguments;

  NotBuiltCommand(Planned planned) {
    this.planned = planned;
  }

  @Override
  public Integer call() {
    spec.commandLine()
        .getErr()
        .println(
            "cria "
                + planned.name()
                + ": not built yet ("
                + planned.summary()
                + "). See README.md for what cria does today.");
    return 3;
  }
}
