package dev.cria.cli.train;

import dev.cria.cli.UserError;
import dev.cria.train.RankRun;
import dev.cria.train.RunConfig;
import dev.cria.train.TrainingSetup;
import dev.cria.train.compile.MemoryPlan;
import dev.cria.train.compile.MemorySize;
import dev.cria.train.compile.PlanReport;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import java.io.PrintWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code cria compile}: what the blueprint's pre-compile job is for, on a CPU: the memory plan of a
 * run (refused early, with the table, when a rank will not fit) and the run's checks and sample
 * index cache. Kernel tuning and its cache are not built yet, and it says so.
 */
@Command(
    name = "compile",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Plan a run's memory per rank and check it before any work (the pre-compile job).",
      "",
      "Takes cria train's flags and config. Prints what each rank will hold (parameters,"
          + " gradients, AdamW moments, activations with and without --recompute, communication"
          + " buffers, the background-save copy, the JVM) against the memory each process has, and"
          + " fails with what would fit when a rank does not. Nothing is allocated, so any preset"
          + " up to llama2-70b can be planned on any machine. With data, it then checks the run"
          + " and builds its sample index cache, as cria train --check does.",
      ""
    })
public final class CompileCommand extends RankCommand {
  @Option(
      names = "--nproc",
      paramLabel = "N",
      defaultValue = "1",
      description = "Worker processes on this machine (default: 1).")
  int nproc;

  @Option(
      names = "--workers",
      paramLabel = "W",
      description = "Plan for a cluster instead: W worker hosts (pods) ...")
  Integer workers;

  @Option(
      names = "--procs-per-worker",
      paramLabel = "P",
      defaultValue = "1",
      description = "... of P processes each (default: 1).")
  int procsPerWorker;

  @Option(
      names = "--memory-per-process",
      paramLabel = "SIZE",
      description =
          "The memory each process may use (24Gi, 24G, bytes; default: 90% of this machine's,"
              + " shared by the processes on it).")
  String memoryPerProcess;

  @Option(names = "--json", description = "Print the plan as one JSON object, and nothing else.")
  boolean json;

  @Override
  protected boolean isWorker() {
    return false;
  }

  @Override
  protected int processes() {
    return nproc;
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (check || printConfig) {
      throw new UserError(
          "--check and --print-config are cria train's: cria compile checks the run itself");
    }
    if (workers != null && nproc != 1) {
      throw new UserError("--nproc is for this machine, --workers for a cluster: give one");
    }
    if (nproc < 1 || procsPerWorker < 1 || (workers != null && workers < 1)) {
      throw new UserError("--nproc, --workers and --procs-per-worker must be at least 1");
    }
    int world = workers != null ? workers * procsPerWorker : nproc;
    int perHost = workers != null ? procsPerWorker : nproc;
    MemoryPlan.Job job = MemoryPlan.Job.onThisMachine(world, perHost);
    if (memoryPerProcess != null) {
      try {
        job =
            new MemoryPlan.Job(
                world, perHost, MemorySize.parse(memoryPerProcess), "--memory-per-process");
      } catch (IllegalArgumentException e) {
        throw new UserError("--memory-per-process: " + e.getMessage());
      }
    }
    try {
      RunConfig.Resolved resolved = RunConfig.readForPlan(request());
      TrainConfig c = resolved.config();
      MemoryPlan plan = TrainingSetup.memoryPlan(c, job);
      if (json) {
        out.println(PlanReport.json(plan));
        out.flush();
        return plan.fits() ? 0 : 1;
      }
      resolved.notes().forEach(out::println);
      PlanReport.table(plan).forEach(out::println);
      out.flush();
      if (!plan.fits()) {
        return 1;
      }
      out.println(
          "kernel tuning and its compile cache: not built yet (cria runs its default blockings)");
      if (c.data().dataPrefix().isEmpty()) {
        out.println(
            "no data given (--data-prefix or data.data_prefix): the data checks and the sample"
                + " index cache were skipped");
      } else {
        RankRun.checkData(c, world, new ConsoleListener(out, c.trainer().logEveryNSteps()));
      }
      out.flush();
      return 0;
    } catch (ConfigException e) {
      throw new UserError(e.getMessage());
    }
  }
}
