package dev.cria.cli.train;

import dev.cria.cli.UserError;
import dev.cria.train.RankRun;
import dev.cria.train.RunConfig;
import dev.cria.train.TrainingSetup;
import dev.cria.train.compile.KernelCache;
import dev.cria.train.compile.KernelTuning;
import dev.cria.train.compile.MemoryPlan;
import dev.cria.train.compile.MemorySize;
import dev.cria.train.compile.PlanReport;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code cria compile}: what the blueprint's pre-compile job is for, on a CPU: the memory plan of a
 * run (refused early, with the table, when a rank will not fit), the kernels tuned for this machine
 * and the run's shapes into the compile cache, and the run's checks and sample index cache.
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
          + " up to llama2-70b can be planned on any machine. Then it times the GEMMs of a"
          + " training step over candidate blockings on the threads each rank will have and keeps"
          + " the fastest in the compile cache, where every rank of cria train finds them (the"
          + " results are the same bits). With data, it then checks the run and builds its sample"
          + " index cache, as cria train --check does.",
      ""
    })
public final class CompileCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  /** The config file, its overrides and the flags that shape the run's config. */
  @Mixin RunOptions run;

  @Option(
      names = "--run-dir",
      paramLabel = "DIR",
      description = "The run to plan and check (default: runs/cria); its config is the base.")
  String runDir;

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
          "The memory each process may use (24Gi, 24G, bytes; default: 90%% of this machine's,"
              + " shared by the processes on it).")
  String memoryPerProcess;

  @Option(
      names = "--tune-seconds",
      paramLabel = "S",
      defaultValue = "0.2",
      description = "About how long each candidate kernel is timed (default: ${DEFAULT-VALUE}).")
  double tuneSeconds;

  @Option(
      names = "--retune",
      description = "Time the kernels again even when the compile cache has them for this machine.")
  boolean retune;

  @Option(
      names = "--json",
      description =
          "Print the plan as one JSON object, and nothing else (no tuning, no data checks).")
  boolean json;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (workers != null && nproc != 1) {
      throw new UserError("--nproc is for this machine, --workers for a cluster: give one");
    }
    if (!(tuneSeconds > 0 && tuneSeconds <= 60)) {
      throw new UserError("--tune-seconds must be more than 0 and at most 60: " + tuneSeconds);
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
      RunConfig.Resolved resolved =
          RunConfig.readForPlan(run.request(runDir, true, false, null, null));
      TrainConfig c = resolved.config();
      TrainingSetup.requireLayout(c, world, perHost); // the hosts: known here, as on a cluster
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
      String heap = plan.heapShortfall(Runtime.getRuntime().maxMemory());
      if (heap != null) {
        out.println("does not fit: " + heap);
        return 1;
      }
      tuneKernels(c, plan, perHost, out);
      if (c.data().dataPrefix().isEmpty()) {
        out.println(
            "no data given (--data-prefix or data.data_prefix): the data checks and the sample"
                + " index cache were skipped");
      } else {
        RankRun.checkData(
            c, world, new RankCommand.ConsoleListener(out, c.trainer().logEveryNSteps()));
      }
      out.flush();
      return 0;
    } catch (ConfigException e) {
      throw new UserError(e.getMessage());
    }
  }

  /** Tunes the run's kernels into its compile cache, or says why not, and prints what it chose. */
  private void tuneKernels(TrainConfig c, MemoryPlan plan, int perHost, PrintWriter out)
      throws java.io.IOException {
    java.nio.file.Path dir = KernelCache.directoryFor(c);
    if (dir == null) {
      out.println(
          "kernel tuning: skipped (--no-compile-cache): the ranks will run default kernels");
      return;
    }
    java.util.Optional<KernelTuning.Result> tuned =
        KernelTuning.run(
            c,
            plan.settings().shape(),
            perHost,
            dir,
            tuneSeconds,
            retune,
            line -> {
              out.println(line);
              out.flush();
            });
    if (tuned.isEmpty()) {
      out.println(
          c.trainer().precision().products() == dev.cria.engine.tensor.DType.BF16
              ? "kernel tuning: nothing to tune in "
                  + c.trainer().precision()
                  + ": the linear layers multiply on the bf16 product, which picks its own kernels"
              : "kernel tuning: backend "
                  + c.trainer().backend()
                  + " has nothing to tune: the ranks will run its kernels as they are");
      return;
    }
    KernelTuning.Result r = tuned.get();
    double[] seconds = r.seconds();
    out.printf(
        java.util.Locale.ROOT,
        "kernel cache: %s %d shapes (%s)%n  the %d products once each: %.1f ms on the default"
            + " kernels, %.1f ms tuned (%.3fx)%n",
        r.reused() ? "hit, already tuned for this machine (--retune times them again):" : "wrote",
        r.kernels().size(),
        r.entry(),
        r.kernels().size(),
        1e3 * seconds[0],
        1e3 * seconds[1],
        seconds[0] / seconds[1]);
  }
}
