package dev.cria.train;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.distributed.CollectiveKind;
import dev.cria.train.distributed.Collectives;
import dev.cria.train.distributed.JobKey;
import dev.cria.train.distributed.JoinSettings;
import dev.cria.train.distributed.LauncherLink;
import dev.cria.train.distributed.RankEnvironment;
import dev.cria.train.metrics.TrainListener;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * One rank's whole run, the same for {@code cria train} (one process), {@code cria worker} (a rank
 * under {@code --nproc}, {@code mpirun} or an MPIJob pod): join the group, check the config and
 * open the data, lay out the run directory (rank 0, before the others go on), train, and stop
 * cleanly on SIGINT or SIGTERM (after the current step, with a checkpoint).
 */
public final class RankRun {
  /**
   * How the rank runs.
   *
   * @param overwrite replace a run already in the run directory
   * @param resume continue a run already in the run directory (or the checkpoint {@code start}
   *     names)
   * @param joinTimeout how long to wait for every rank to join
   * @param start where the weights come from (a checkpoint, Hugging Face weights, or seeded)
   * @param collectiveTimeout how long a collective may wait for a peer
   * @param collective which collectives the group uses
   */
  public record Options(
      boolean overwrite,
      boolean resume,
      TrainStart start,
      Duration joinTimeout,
      Duration collectiveTimeout,
      CollectiveKind collective) {}

  /** Set by a launcher that holds the run's lease for all its workers. */
  public static final String LEASE_HELD = "CRIA_LEASE_HELD";

  private RankRun() {}

  /**
   * Runs rank {@code env.rank()} of the job with config {@code c}; {@code console} gets rank 0's
   * lines (the other ranks write only their logs) and {@code summary} rank 0's result, before a
   * Ctrl-C or SIGTERM lets the JVM exit. Returns when training has finished or stopped.
   */
  public static TrainResult train(
      TrainConfig c,
      RankEnvironment env,
      Options options,
      TrainListener console,
      Consumer<TrainResult> summary)
      throws IOException {
    boolean first = env.rank() == 0;
    TrainListener listener = first ? console : TrainListener.silent();
    // one job per run directory: rank 0 takes it, unless a launcher holds it for the whole job
    RunLease lease =
        first && !"1".equals(System.getenv(LEASE_HELD))
            ? RunLease.acquire(Path.of(c.runDir()), line -> listener.info("warning: " + line))
            : null;
    try (lease) {
      return train(c, env, options, listener, console, summary, first);
    }
  }

  /**
   * Checks a run before any work, as the compile job does on a cluster: the config, the tokenizer,
   * the data and its split, the memory of one rank of a {@code worldSize}-rank job, and builds the
   * sample index cache (in {@code <run>/index_cache} unless the config says where) for the training
   * job to reuse; and that the weights {@code start} names fit the model (unless {@code overwrite}
   * replaces the run's checkpoints). Holds the run's lease meanwhile; writes nothing else.
   */
  public static void check(
      TrainConfig c,
      int worldSize,
      int ranksPerHost,
      TrainStart start,
      boolean overwrite,
      TrainListener console)
      throws IOException {
    TrainingSetup.requireTrainingMemory(c, worldSize, ranksPerHost);
    TrainingSetup.requireStartFits(c, start, overwrite);
    checkData(c, worldSize, console);
  }

  /**
   * {@link #check} but for the memory (which {@code cria compile} plans itself): the config, the
   * tokenizer, the data, and the sample index cache, under the run's lease.
   */
  public static void checkData(TrainConfig c, int worldSize, TrainListener console)
      throws IOException {
    try (RunLease lease =
        RunLease.acquire(Path.of(c.runDir()), line -> console.info("warning: " + line))) {
      try (TrainingSetup setup = TrainingSetup.prepare(c, worldSize, console::info)) {
        console.info(
            "checks passed for "
                + worldSize
                + " rank(s): the config, the tokenizer, the data, the memory of a rank; the"
                + " sample index cache is ready");
      }
    }
  }

  /**
   * What {@code ranks} ranks of {@code threads} compute threads each (0: a share of the cores each)
   * on a host of {@code cores} cores cost, when they are more threads than cores: the threads take
   * turns, and every step waits for the slowest rank.
   */
  static java.util.Optional<String> oversubscribed(int threads, int ranks, int cores) {
    if (threads == 0 || (long) threads * ranks <= cores) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of(
        ranks
            + " rank(s) x "
            + threads
            + " thread(s) on this host's "
            + cores
            + " core(s): the threads take turns and every step waits for the slowest;"
            + (cores >= ranks
                ? " --threads " + (cores / ranks) + " (or 0) gives each rank its share"
                : " fewer ranks on this host would run faster"));
  }

  private static TrainResult train(
      TrainConfig c,
      RankEnvironment env,
      Options options,
      TrainListener listener,
      TrainListener console,
      Consumer<TrainResult> summary,
      boolean first)
      throws IOException {
    if (first) {
      RunDirectory.requireAvailable(
          c, options.overwrite(), options.resume()); // before the index cache is written
      TrainingSetup.requireStartFits(c, options.start(), options.overwrite());
    }
    // a model too big for this machine is refused before anything is written
    int ranksHere =
        dev.cria.train.compile.MemoryPlan.Job.ranksOnThisHost(System.getenv(), env.worldSize());
    TrainingSetup.requireTrainingMemory(c, env.worldSize(), ranksHere);
    if (first) {
      oversubscribed(
              TrainingSetup.threadsFor(c.trainer().threads(), System.getenv()),
              ranksHere,
              Runtime.getRuntime().availableProcessors())
          .ifPresent(line -> console.info("warning: " + line));
    }
    AtomicBoolean stop = new AtomicBoolean();
    CountDownLatch finished = new CountDownLatch(1);
    AtomicReference<Trainer> trainer = new AtomicReference<>();
    if (env.worldSize() > 1) {
      // a worker whose launcher dies (killed, reaped or not; mpirun gone) stops after this step
      LauncherLink.watch(
          System.getenv(),
          () -> stop.set(true),
          line -> {
            Trainer running = trainer.get();
            if (running != null) {
              running.note(line); // the rank's log: its console may have gone with the launcher
            } else {
              listener.info("warning: " + line);
            }
          });
    }
    JoinSettings join =
        new JoinSettings(
            options.collective(),
            options.joinTimeout(),
            options.collectiveTimeout(),
            JoinSettings.DEFAULT_HANDSHAKE_TIMEOUT,
            stop::get,
            line -> console.info("warning: " + line)); // every rank: strangers it refused
    // the job's key is read before the stop hook goes in: a bad secret must end the process at
    // once, not leave a hook waiting for a run that never started
    java.util.Optional<JobKey> key;
    try {
      key = JobKey.fromEnvironment(System.getenv(), c.runDir());
    } catch (IllegalArgumentException e) {
      throw new CollectiveException(e.getMessage(), e);
    }
    Thread hook =
        new Thread(
            () -> {
              stop.set(true);
              Trainer running = trainer.get();
              String trouble = running == null ? "" : running.peerTrouble();
              if (!trouble.isEmpty()) {
                // asked to stop because a peer died (mpirun ends the others): say which, first
                running.note("asked to stop; the watched peers: " + trouble);
              }
              try {
                finished.await(
                    10,
                    TimeUnit.MINUTES); // the current step, the checkpoint, then metrics are flushed
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "cria-train-stop");
    Runtime.getRuntime().addShutdownHook(hook); // released in the finally below
    try (Collective group = Collectives.join(env, key, join);
        TrainingSetup setup = TrainingSetup.prepare(c, env.worldSize(), listener::info)) {
      if (first) {
        RunDirectory created = RunDirectory.create(c, options.overwrite(), options.resume());
        listener.info(
            "run directory: " + created.root() + " (config.yaml, <rank>/log, TensorBoard events)");
      }
      group.barrier(); // rank 0 has laid out the run directory
      trainer.set(new Trainer(setup, RunDirectory.open(c), listener, stop::get, group));
      TrainResult result;
      try {
        result = trainer.get().run(options.start());
      } catch (IOException | RuntimeException e) {
        // the peers must not wait for this rank: under Open MPI this ends the job, since a rank
        // that finalized now would wait in MPI_Finalize for peers that wait in a collective
        group.abort("rank " + env.rank() + " failed: " + e.getMessage());
        throw e;
      }
      if (first) {
        summary.accept(result); // printed before the stop hook lets the JVM exit
      }
      return result;
    } finally {
      finished.countDown();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // A signal arrived: the JVM exits with its status once the hook returns.
      }
    }
  }
}
