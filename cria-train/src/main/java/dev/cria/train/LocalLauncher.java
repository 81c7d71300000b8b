package dev.cria.train;

import dev.cria.core.run.StatusFiles;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.distributed.ChildOutput;
import dev.cria.train.distributed.JobKey;
import dev.cria.train.distributed.LauncherLink;
import dev.cria.train.distributed.LocalRanks;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * {@code cria train --nproc N}: the launcher of a local data-parallel job. It checks the config and
 * builds the sample indices once, starts N {@code cria worker} JVMs with the rank variables and an
 * equal share of the cores, prefixes their output with the rank, and supervises them: when one
 * fails the others are stopped and the launcher names the rank and shows the end of its log; a
 * SIGINT or SIGTERM to the launcher stops every worker cleanly (after its current step).
 */
public final class LocalLauncher {
  /** After a worker died: how long the others get to stop before SIGKILL. */
  private static final long GRACE_SECONDS = 30;

  /**
   * After Ctrl-C or SIGTERM: as long as a worker's own hook waits, for the step and the checkpoint
   * to finish.
   */
  private static final long STOP_GRACE_SECONDS = 600;

  private final List<String> workerCommand;
  private final PrintWriter out;

  /**
   * A launcher that starts {@code workerCommand} (a whole command line: the JVM, its flags and
   * {@code cria worker} with the run's arguments) once per rank, adding {@code --threads}, and
   * copies their output to {@code out}.
   */
  public LocalLauncher(List<String> workerCommand, PrintWriter out) {
    this.workerCommand = List.copyOf(workerCommand);
    this.out = out;
  }

  /**
   * Checks the config and builds the sample indices once, starts {@code nproc} workers with {@code
   * threads} threads each (null: the cores shared evenly) and supervises them; {@code start} says
   * whether a run in the directory is continued and where the weights come from (checked first).
   * Returns 0 when every worker finished.
   *
   * @throws TrainingException naming the worker that failed, after the end of its log was shown
   */
  public int launch(TrainConfig c, int nproc, Integer threads, boolean overwrite, TrainStart start)
      throws IOException, InterruptedException {
    // the launcher holds the run directory for its whole job; its workers know (CRIA_LEASE_HELD)
    try (RunLease lease =
        RunLease.acquire(Path.of(c.runDir()), line -> out.println("warning: " + line))) {
      return launchHolding(c, nproc, threads, overwrite, start);
    }
  }

  private int launchHolding(
      TrainConfig c, int nproc, Integer threads, boolean overwrite, TrainStart start)
      throws IOException, InterruptedException {
    RunDirectory.requireAvailable(c, overwrite, start.resume());
    TrainingSetup.requireStartFits(c, start, overwrite);
    TrainingSetup.requireTrainingMemory(c, nproc, nproc);
    try (TrainingSetup setup = TrainingSetup.prepare(c, nproc, out::println)) {
      // checked, and the indices are cached for the workers
    }
    int cores = Runtime.getRuntime().availableProcessors();
    int perWorker = threads != null ? threads : Math.max(1, cores / nproc);
    int port = LocalRanks.freePort();
    List<String> base = new ArrayList<>(workerCommand);
    base.add("--threads");
    base.add(Integer.toString(perWorker));
    out.printf(
        "launching %d workers with %d thread(s) each (rendezvous 127.0.0.1:%d)%n",
        nproc, perWorker, port);
    out.flush();
    // a fresh secret per job, in the workers' environment only: strangers on this host, and other
    // jobs, cannot join
    JobKey key = JobKey.generate("local-" + UUID.randomUUID());
    List<Process> workers = new ArrayList<>();
    List<Thread> pumps = new java.util.concurrent.CopyOnWriteArrayList<>();
    Thread stopper =
        new Thread(
            () -> {
              stopAll(workers, STOP_GRACE_SECONDS);
              // the workers' last lines (the stop checkpoint, "stopped after step N") reach the
              // console before this JVM exits
              for (Thread t : List.copyOf(pumps)) {
                try {
                  t.join(2000);
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                }
              }
            },
            "cria-launcher-stop");
    Runtime.getRuntime().addShutdownHook(stopper);
    try {
      for (int r = 0; r < nproc; r++) {
        ProcessBuilder pb = new ProcessBuilder(base).redirectErrorStream(true);
        LocalRanks.environment(pb.environment(), r, nproc, port, key);
        pb.environment().put(RankRun.LEASE_HELD, "1");
        // the worker's standard input stays a pipe that only this launcher holds: its end-of-file
        // tells the worker that the launcher died, even before anyone reaps it
        pb.environment().put(LauncherLink.PIPE, "stdin");
        Process p = pb.start();
        workers.add(p);
        pumps.add(pump(p, r));
      }
      int failed = -1;
      int code = 0;
      int stoppedCode = 0; // the ranks stopped on request (Ctrl-C, SIGTERM), each with a checkpoint
      while (failed < 0 && workers.stream().anyMatch(Process::isAlive)) {
        for (int r = 0; r < workers.size() && failed < 0; r++) {
          Process p = workers.get(r);
          if (!p.isAlive() && p.exitValue() != 0) {
            if (stoppedOnRequest(c, r, p.exitValue())) {
              stoppedCode = p.exitValue();
            } else {
              failed = r;
              code = p.exitValue();
            }
          }
        }
        Thread.sleep(100);
      }
      if (failed < 0) {
        for (int r = 0; r < workers.size(); r++) {
          int exit = workers.get(r).exitValue();
          if (exit != 0 && stoppedOnRequest(c, r, exit)) {
            stoppedCode = exit;
          } else if (exit != 0) {
            failed = r;
            code = exit;
          }
        }
      }
      if (failed >= 0) {
        stopAll(workers, GRACE_SECONDS);
        for (Thread t : pumps) {
          t.join(2000);
        }
        String why = lastError(Path.of(c.runDir()), failed);
        out.println(
            "worker rank "
                + failed
                + " exited with code "
                + code
                + (why == null ? "" : " (" + why + ")")
                + "; stopped the others. The end of its log:");
        for (String line : tail(Path.of(c.runDir(), Integer.toString(failed), "log"), 10)) {
          out.println("  " + line);
        }
        out.flush();
        throw new TrainingException(
            "worker rank "
                + failed
                + " failed (exit code "
                + code
                + ")"
                + (why == null ? "" : ": " + why));
      }
      for (Thread t : pumps) {
        t.join(2000);
      }
      return stoppedCode;
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(stopper);
      } catch (IllegalStateException shuttingDown) {
        // the hook is stopping the workers
      }
    }
  }

  /**
   * Whether rank {@code rank}, which exited with {@code exit}, stopped as asked (130 or 143, its
   * status {@code stopped}): the job's ranks agree on a stop, so all of them stop so, each after
   * saving; not a failure.
   */
  private static boolean stoppedOnRequest(TrainConfig c, int rank, int exit) {
    if (exit != 130 && exit != 143) {
      return false;
    }
    try {
      return StatusFiles.read(StatusFiles.file(Path.of(c.runDir()), rank)).state()
          == dev.cria.core.run.RankState.STOPPED;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** What the status file of rank {@code rank} says it failed with, or null. */
  private static String lastError(Path runDir, int rank) {
    try {
      return StatusFiles.read(StatusFiles.file(runDir, rank)).lastError();
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /**
   * SIGTERM to every live worker, then SIGKILL to those still alive after {@code grace} seconds,
   * and at once to those that are stopped (SIGSTOP): they could not act on the SIGTERM.
   */
  private static void stopAll(List<Process> workers, long grace) {
    for (Process p : List.copyOf(workers)) {
      // SIGTERM through the handle: Process.destroy() would also close the worker's output, and
      // its last lines (the stop checkpoint, "stopped after") would never reach the console
      p.toHandle().destroy();
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(grace);
    try {
      while (System.nanoTime() < deadline && workers.stream().anyMatch(Process::isAlive)) {
        for (Process p : List.copyOf(workers)) {
          if (p.isAlive() && ProcessStates.stopped(p.pid())) {
            p.destroyForcibly();
          }
        }
        Thread.sleep(100);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (Process p : List.copyOf(workers)) {
      if (p.isAlive()) {
        p.destroyForcibly();
      }
    }
  }

  /** Copies a worker's output to ours, each line prefixed with its rank. */
  private Thread pump(Process p, int rank) {
    return ChildOutput.follow(
        p,
        "cria-launcher-rank-" + rank,
        line -> {
          synchronized (out) {
            out.println("[rank " + rank + "] " + line);
            out.flush();
          }
        });
  }

  private static List<String> tail(Path file, int lines) {
    try {
      List<String> all = Files.readAllLines(file);
      return all.subList(Math.max(0, all.size() - lines), all.size());
    } catch (IOException e) {
      return List.of("(no log at " + file + ")");
    }
  }
}
