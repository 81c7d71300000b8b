package dev.cria.cli;

import dev.cria.cli.bench.BenchCommand;
import dev.cria.cli.data.DataCommand;
import dev.cria.cli.data.PrepareCommand;
import dev.cria.cli.image.ImageCommand;
import dev.cria.cli.k8s.K8sCommand;
import dev.cria.cli.model.EvalCommand;
import dev.cria.cli.model.ExportCommand;
import dev.cria.cli.model.GenerateCommand;
import dev.cria.cli.tokenizer.TokenizerCommand;
import dev.cria.cli.train.CompileCommand;
import dev.cria.cli.train.TrainCommand;
import dev.cria.cli.train.WorkerCommand;
import dev.cria.cli.watch.BoardCommand;
import dev.cria.cli.watch.LogsCommand;
import dev.cria.cli.watch.TopCommand;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The top-level {@code cria} command: global options and the subcommands, grouped by lifecycle
 * step.
 */
@Command(
    name = "cria",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description =
        "Pretrain Llama-family language models in Java, from a laptop to a Kubernetes cluster.",
    subcommands = {
      TokenizerCommand.class,
      PrepareCommand.class,
      DataCommand.class,
      CompileCommand.class,
      TrainCommand.class,
      WorkerCommand.class,
      LogsCommand.class,
      TopCommand.class,
      BoardCommand.class,
      EvalCommand.class,
      GenerateCommand.class,
      ExportCommand.class,
      BenchCommand.class,
      K8sCommand.class,
      ImageCommand.class
    },
    footer = {
      "",
      "Run 'cria COMMAND --help' for a command's options; a flag given twice takes its last value"
          + " (a flag that takes a list, such as --input or --data-prefix, gathers them).",
      "Exit codes: 0 ok; 1 error (a value refused, with its reason); 2 bad usage (a flag or"
          + " command cria does not know, or a value of the wrong type); 130/143 stopped by"
          + " Ctrl-C/SIGTERM."
    })
public final class CriaCommand implements Runnable {
  /** Lifecycle steps in order, with the commands of each that exist today. */
  private static final Map<String, List<String>> GROUPS = new LinkedHashMap<>();

  static {
    GROUPS.put("Data", List.of("tokenizer", "prepare", "data"));
    GROUPS.put("Training", List.of("compile", "train", "worker"));
    GROUPS.put("Watching a run", List.of("logs", "top", "board"));
    GROUPS.put("On Kubernetes", List.of("image", "k8s"));
    GROUPS.put("Using a model", List.of("eval", "generate", "export"));
    GROUPS.put("Engine", List.of("bench"));
  }

  @Spec CommandSpec spec;

  @CommandLine.Option(
      names = "--verbose",
      scope = CommandLine.ScopeType.INHERIT,
      description = "Print stack traces with errors.")
  boolean verbose;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** A configured command line: error handling, grouped help. */
  public static CommandLine commandLine(PrintWriter out, PrintWriter err) {
    CommandLine cl = new CommandLine(new CriaCommand());
    cl.setOut(out);
    cl.setErr(err);
    cl.setExecutionExceptionHandler(new ErrorHandler());
    cl.setOverwrittenOptionsAllowed(
        true); // a flag given twice: the last one wins, so scripts can append overrides
    cl.getHelpSectionMap()
        .put(
            CommandLine.Model.UsageMessageSpec.SECTION_KEY_COMMAND_LIST,
            help -> groupedCommandList(cl));
    return cl;
  }

  private static String groupedCommandList(CommandLine cl) {
    StringBuilder sb = new StringBuilder();
    Map<String, CommandLine> subcommands = cl.getSubcommands();
    GROUPS.forEach((group, names) -> {
      sb.append(group).append(":\n");
      for (String name : names) {
        CommandLine sub = subcommands.get(name);
        String[] description = sub.getCommandSpec().usageMessage().description();
        sb.append(
            String.format("  %-10s %s%n", name, description.length > 0 ? description[0] : ""));
      }
    });
    return sb.toString();
  }
}
