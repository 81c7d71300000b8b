package dev.cria.cli.k8s;

import dev.cria.cli.UserError;
import dev.cria.core.run.RankStatus;
import dev.cria.k8s.Cluster;
import dev.cria.k8s.JobStatus;
import dev.cria.k8s.K8sException;
import dev.cria.k8s.SharedRuns;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** The commands about a submitted job: status, logs, stop, cleanup, board-url. */
public final class JobCommands {
  private JobCommands() {}

  /** What every job command takes: the namespace, the job, the cluster. */
  abstract static class JobCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(
        names = {"-n", "--namespace"},
        paramLabel = "NS",
        description = "Namespace (default: the kubeconfig context's, else default).")
    String namespace;

    PrintWriter out() {
      return spec.commandLine().getOut();
    }

    @Override
    public Integer call() throws Exception {
      try (Cluster cluster = Cluster.connect(namespace)) {
        int code = run(cluster);
        out().flush();
        return code;
      } catch (K8sException e) {
        throw new UserError(e.getMessage());
      }
    }

    abstract int run(Cluster cluster) throws Exception;
  }

  /** {@code cria k8s status JOB}. */
  @Command(
      name = "status",
      mixinStandardHelpOptions = true,
      description = "The job's state and conditions, its pods, and each rank's step.")
  public static final class Status extends JobCommand {
    @Parameters(index = "0", paramLabel = "JOB")
    String job;

    @Option(
        names = "--shared-local",
        paramLabel = "DIR",
        description =
            "The shared volume mounted on this machine (else they are read in a running worker pod): each rank's step, tokens/s and"
                + " heartbeat from its status file.")
    Path sharedLocal;

    @Override
    int run(Cluster cluster) throws IOException {
      JobStatus s = cluster.status(job);
      PrintWriter out = out();
      out.println(s.kind() + " " + cluster.namespace() + "/" + s.job() + ": " + s.state());
      if (s.state().equals("Suspended")) {
        out.println(
            "  "
                + cluster
                    .queued(job)
                    .orElse("suspended, and not by Kueue (the job has no queue label)"));
      }
      for (JobStatus.Condition c : s.conditions()) {
        out.printf(
            Locale.ROOT, "  %-10s %-5s %s %s%n", c.type(), c.status(), c.since(), c.message());
      }
      out.println("pods:");
      if (s.pods().isEmpty()) {
        out.println("  none yet");
      }
      for (JobStatus.Pod p : s.pods()) {
        out.printf(
            Locale.ROOT,
            "  %-40s %-9s %-10s %d restart(s)%n",
            p.name(),
            p.role(),
            p.phase(),
            p.restarts());
      }
      List<RankStatus> ranks;
      if (sharedLocal != null) {
        ranks = SharedRuns.ranks(sharedLocal, job);
        out.println("ranks (" + SharedRuns.runDir(sharedLocal, job) + "):");
      } else if (s.runningWorker().isPresent()) {
        ranks = cluster.rankStatuses(s);
        out.println("ranks (read in a worker pod):");
      } else {
        out.println(
            "ranks: no running worker pod to read them in (--shared-local DIR reads them from"
                + " the shared volume mounted here)");
        return 0;
      }
      if (ranks.isEmpty()) {
        out.println("  no status files yet");
      }
      long now = System.currentTimeMillis();
      for (RankStatus r : ranks) {
        out.printf(
            Locale.ROOT,
            "  rank %-4d %-10s step %d/%d  %,.0f tokens/s  heartbeat %.0f s" + " ago%s%n",
            r.rank(),
            r.state().name().toLowerCase(Locale.ROOT),
            r.step(),
            r.maxSteps(),
            r.tokensPerSec(),
            (now - r.updatedAt()) / 1000.0,
            r.lastError() == null ? "" : "  error: " + r.lastError());
      }
      return 0;
    }
  }

  /** {@code cria k8s logs JOB}. */
  @Command(
      name = "logs",
      mixinStandardHelpOptions = true,
      description =
          "The launcher's log (every rank's console, as mpirun gathers it), or one"
              + " rank's log file from the shared volume.")
  public static final class Logs extends JobCommand {
    @Parameters(index = "0", paramLabel = "JOB")
    String job;

    @Option(
        names = "--rank",
        paramLabel = "R",
        description = "This rank's <run>/R/log instead (needs --shared-local).")
    Integer rank;

    @Option(
        names = "--shared-local",
        paramLabel = "DIR",
        description = "The shared volume mounted on this machine.")
    Path sharedLocal;

    @Option(
        names = {"-f", "--follow"},
        description = "Keep printing as the log grows.")
    boolean follow;

    @Override
    public Integer call() throws Exception {
      if (rank == null) {
        return super.call();
      }
      if (sharedLocal == null) {
        throw new UserError(
            "--rank reads <run>/"
                + rank
                + "/log from the shared volume: give"
                + " --shared-local DIR where it is mounted on this machine");
      }
      List<String> args =
          new ArrayList<>(
              List.of(
                  "logs",
                  SharedRuns.runDir(sharedLocal, job).toString(),
                  "--rank",
                  rank.toString()));
      if (follow) {
        args.add("-f");
      }
      return spec.root().commandLine().execute(args.toArray(String[]::new));
    }

    @Override
    int run(Cluster cluster) throws Exception {
      if (!follow) {
        out().print(cluster.log(job));
        return 0;
      }
      // the log arrives in pieces that may split a character: decoded across them
      DecodingOutput sink = new DecodingOutput(out());
      cluster.follow(job, sink);
      sink.close();
      return 0;
    }
  }

  /** {@code cria k8s stop JOB}. */
  @Command(
      name = "stop",
      mixinStandardHelpOptions = true,
      description =
          "Delete the job (and its compile job) and wait until its pods are gone. The"
              + " run's files stay; submitting again resumes it.")
  public static final class Stop extends JobCommand {
    @Parameters(index = "0", paramLabel = "JOB")
    String job;

    @Option(
        names = "--timeout",
        paramLabel = "SECONDS",
        defaultValue = "300",
        description = "How long to wait for the pods to go (default: ${DEFAULT-VALUE}).")
    int timeout;

    @Override
    int run(Cluster cluster) {
      List<String> removed = cluster.stop(job, Duration.ofSeconds(timeout));
      for (String line : removed) {
        out().println("removed " + line);
      }
      if (removed.stream().noneMatch(l -> l.startsWith("MPIJob ") || l.startsWith("TrainJob "))) {
        out().println("stopped " + job); // prepare Jobs: their parts go with them
        return 0;
      }
      out()
          .println(
              "stopped "
                  + job
                  + "; its run stays in <shared>/cria/runs/"
                  + job
                  + " (cria k8s submit train --job "
                  + job
                  + " ... resumes it)");
      return 0;
    }
  }

  /** {@code cria k8s cleanup [JOB | --all]}. */
  @Command(
      name = "cleanup",
      mixinStandardHelpOptions = true,
      description =
          "Delete everything cria made for JOB (or for every run with --all). The shared"
              + " volume and the run's files stay unless --delete-run is given.")
  public static final class Cleanup extends JobCommand {
    @Parameters(index = "0", arity = "0..1", paramLabel = "JOB")
    String job;

    @Option(names = "--all", description = "Every run's objects in the namespace.")
    boolean all;

    @Option(
        names = "--delete-run",
        description =
            "Also delete the run's directory on the shared volume (needs --shared-local;"
                + " only a directory cria made).")
    boolean deleteRun;

    @Option(
        names = "--shared-local",
        paramLabel = "DIR",
        description = "The shared volume mounted on this machine.")
    Path sharedLocal;

    @Override
    public Integer call() throws Exception {
      if ((job == null) == !all) {
        throw new UserError("give a JOB or --all, not both");
      }
      if (deleteRun && (sharedLocal == null || job == null)) {
        throw new UserError(
            "--delete-run needs a JOB and --shared-local DIR (the shared volume"
                + " mounted here)");
      }
      return super.call();
    }

    @Override
    int run(Cluster cluster) throws IOException {
      List<String> removed = cluster.cleanup(all ? null : job);
      removed.forEach(line -> out().println("removed " + line));
      if (removed.isEmpty()) {
        out()
            .println(
                "nothing of cria's in namespace "
                    + cluster.namespace()
                    + (job == null ? "" : " for " + job));
      }
      if (deleteRun) {
        cluster.awaitPodsGone(job, Duration.ofSeconds(300)); // none still writing into the run
        long files = SharedRuns.deleteRun(sharedLocal, job);
        out()
            .println(
                "removed the run directory "
                    + SharedRuns.runDir(sharedLocal, job)
                    + " ("
                    + files
                    + " files)");
      }
      return 0;
    }
  }

  /** {@code cria k8s board-url JOB}. */
  @Command(
      name = "board-url",
      mixinStandardHelpOptions = true,
      description = "How to open the job's board: the port-forward, the URL, the user.")
  public static final class BoardUrl extends JobCommand {
    @Parameters(index = "0", paramLabel = "JOB")
    String job;

    @Option(names = "--password", description = "Also print the password (from its Secret).")
    boolean password;

    @Override
    int run(Cluster cluster) {
      cluster.boardUrl(job, password).forEach(out()::println);
      return 0;
    }
  }
}
