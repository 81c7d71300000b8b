package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * {@code cria bench collective}: starts the ranks of a benchmark on this machine, once per
 * transport (N worker JVMs for shared memory and TCP, {@code mpirun -np N} for Open MPI), and
 * passes on rank 0's results as they come.
 */
public final class CollectiveBenchLauncher {
  private final List<String> workerCommand;
  private final int nproc;

  /**
   * A launcher of {@code nproc} ranks, each running {@code workerCommand} (a whole command line
   * that ends in {@code cria bench collective --worker} and its sizes) plus {@code --collective
   * KIND}.
   */
  public CollectiveBenchLauncher(List<String> workerCommand, int nproc) {
    if (nproc < 2) {
      throw new IllegalArgumentException(
          "--nproc must be at least 2 for a collective, got " + nproc);
    }
    this.workerCommand = List.copyOf(workerCommand);
    this.nproc = nproc;
  }

  /** Where {@code mpirun} is, if on the PATH. */
  public static Optional<Path> mpirun() {
    String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
    for (String dir : path.split(":")) {
      Path p = Path.of(dir.isEmpty() ? "." : dir, "mpirun");
      if (Files.isExecutable(p)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }

  /**
   * Runs the benchmark on {@code kind} (not auto); each result goes to {@code each} as rank 0
   * reports it.
   *
   * @throws CollectiveException when a rank fails, with the end of its output
   */
  public void run(CollectiveKind kind, Consumer<CollectiveBenchmark.Result> each)
      throws IOException, InterruptedException {
    List<Process> ranks = new ArrayList<>();
    Deque<String> tail = new ArrayDeque<>();
    List<Thread> readers = new ArrayList<>();
    try {
      if (kind == CollectiveKind.MPI) {
        Path mpirun =
            mpirun()
                .orElseThrow(() ->
                    new CollectiveException(
                        "mpirun is not on the PATH: install Open MPI (Debian: openmpi-bin)"));
        List<String> command =
            new ArrayList<>(
                List.of(
                    mpirun.toString(),
                    "--allow-run-as-root",
                    "--oversubscribe",
                    "-np",
                    Integer.toString(nproc)));
        command.addAll(workerCommand);
        command.addAll(List.of("--collective", "mpi"));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        ranks.add(p);
        readers.add(read(p, each, tail));
      } else {
        JobKey key = JobKey.generate("bench-" + UUID.randomUUID());
        int port = LocalRanks.freePort();
        for (int r = 0; r < nproc; r++) {
          List<String> command = new ArrayList<>(workerCommand);
          command.addAll(List.of("--collective", kind.toString()));
          ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
          LocalRanks.environment(pb.environment(), r, nproc, port, key);
          Process p = pb.start();
          ranks.add(p);
          readers.add(read(p, r == 0 ? each : result -> {}, tail));
        }
      }
      for (Process p : ranks) {
        if (!p.waitFor(30, TimeUnit.MINUTES)) {
          throw new CollectiveException("the " + kind + " benchmark did not end in 30 minutes");
        }
      }
      for (Thread t : readers) {
        t.join(Duration.ofSeconds(5));
      }
      for (Process p : ranks) {
        if (p.exitValue() != 0) {
          synchronized (tail) {
            throw new CollectiveException(
                "the "
                    + kind
                    + " benchmark failed (exit code "
                    + p.exitValue()
                    + "); the end of its output:\n  "
                    + String.join("\n  ", tail));
          }
        }
      }
    } finally {
      for (Process p : ranks) {
        p.destroyForcibly();
      }
    }
  }

  /** Reads a rank's output: results to {@code each}, other lines to the last 12 of {@code tail}. */
  private static Thread read(
      Process p, Consumer<CollectiveBenchmark.Result> each, Deque<String> tail) {
    return ChildOutput.follow(
        p,
        "cria-bench-reader",
        line -> {
          CollectiveBenchmark.Result r = CollectiveBenchmark.Result.fromWire(line);
          if (r != null) {
            each.accept(r);
            return;
          }
          synchronized (tail) {
            tail.addLast(line);
            while (tail.size() > 12) {
              tail.removeFirst();
            }
          }
        });
  }

  /**
   * The worker side, in a rank's process: joins with {@code kind} and runs the benchmark; rank 0
   * prints each result for the launcher.
   */
  public static void worker(CollectiveKind kind, List<Long> sizes, Consumer<String> out) {
    RankEnvironment env = RankEnvironment.fromEnvironment();
    JoinSettings settings =
        JoinSettings.of(Duration.ofSeconds(120), Duration.ofSeconds(300)).withKind(kind);
    try (Collective group =
        Collectives.join(env, JobKey.fromEnvironment(System.getenv(), "bench"), settings)) {
      CollectiveBenchmark.run(
          group,
          sizes,
          r -> {
            if (group.rank() == 0) {
              out.accept(r.toWire());
            }
          });
    }
  }
}
