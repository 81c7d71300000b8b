package dev.cria.train.distributed;

import dev.cria.core.run.RankState;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * Watches some of the job's other ranks through the status files they keep on the shared run
 * directory ({@code <run>/<rank>/status.json}, rewritten at least every heartbeat), so that a rank
 * that fails, hangs or stops answering ends the job within a stated time, named, whatever carries
 * the collectives (shared memory, TCP, Open MPI, which has no timeout of its own):
 *
 * <ul>
 *   <li><b>failed</b>: its status says failed: at the next look (every second), with its error;
 *   <li><b>gone</b>: on this host, its process no longer exists and its status is two heartbeats
 *       old (killed, out of memory);
 *   <li><b>silent</b>: its status has not changed for {@link Bounds#silent()} (30 s, six
 *       heartbeats): the process is stopped (SIGSTOP), frozen, or its file system stalled;
 *   <li><b>stuck</b>: its status is fresh, but it has not entered the collective operation this
 *       rank already waits in for {@link Bounds#stuck} (at least 60 s, else ten times the slowest
 *       step seen; a rank that saves gets the checkpoint's patience): an endless loop or a
 *       deadlock.
 * </ul>
 *
 * <p>Then this rank logs the verdict and aborts its group ({@link Collective#abort}): the operation
 * it waits in fails with the verdict, its run fails, and the job stops as it does when a rank
 * fails. A rank that is slow but moves (a straggler) is reported once it has been waited for a
 * while, and never stopped. With many ranks each watches a few (those 1, 2, 4, ... ranks away on
 * either side); an abort reaches the rest through the collectives and their own watches.
 */
public final class PeerWatch implements AutoCloseable {
  /**
   * When a peer is judged.
   *
   * @param every how often the peers' status files are read
   * @param heartbeat how often a healthy rank rewrites its status file
   * @param silent a status unchanged this long means the rank stopped answering
   * @param stuckFloor the shortest time a live rank may lag behind a collective before it is stuck
   * @param stuckSteps ... or this many times the slowest step seen, when that is longer
   * @param saving how long a rank that writes or reads a checkpoint may lag (the others wait at the
   *     save's or the load's barrier meanwhile)
   */
  public record Bounds(
      Duration every,
      Duration heartbeat,
      Duration silent,
      Duration stuckFloor,
      int stuckSteps,
      Duration saving) {
    public Bounds {
      if (every.isNegative()
          || every.isZero()
          || silent.compareTo(heartbeat.multipliedBy(2)) < 0
          || stuckSteps < 1) {
        throw new IllegalArgumentException(
            "watch bounds: every > 0, silent >= two heartbeats, stuck steps >= 1: " + this);
      }
    }

    /** Looks every second; silent after six heartbeats; stuck after 60 s or ten steps. */
    public static Bounds defaults(Duration heartbeat, Duration saving) {
      return new Bounds(
          Duration.ofSeconds(1),
          heartbeat,
          heartbeat.multipliedBy(6),
          Duration.ofSeconds(60),
          10,
          saving);
    }

    /** How long a live rank may lag behind, given the slowest step seen (seconds, NaN: none). */
    Duration stuck(double slowestStepSeconds) {
      if (!(slowestStepSeconds > 0)) {
        return stuckFloor;
      }
      Duration steps = Duration.ofMillis((long) (slowestStepSeconds * 1000 * stuckSteps));
      return steps.compareTo(stuckFloor) > 0 ? steps : stuckFloor;
    }
  }

  /** What this rank last saw of one peer, in its own clock. */
  /** {@link Seen#firstUpdatedAt} of a peer that had no status file when the watch began. */
  private static final long ABSENT = Long.MIN_VALUE + 1;

  private static final class Seen {
    long firstUpdatedAt; // of the status when the watch began (maybe the last run's), or ABSENT
    long updatedAt = Long.MIN_VALUE; // the peer's own clock, as written
    long updatedSeenAt; // when this rank last saw updatedAt change
    long collectives = -1;
    long collectivesSeenAt;
    boolean reportedSlow;
  }

  private final Path runDir;
  private final CountedCollective group;
  private final Bounds bounds;
  private final Consumer<String> log;
  private final Consumer<String> onVerdict;
  private final int[] peers;
  private final Seen[] seen;
  private final long startedAt;
  private final String host;
  private double slowestStep = Double.NaN;
  private final Thread thread;
  private volatile boolean closed;
  private volatile String verdict;

  private PeerWatch(
      Path runDir,
      CountedCollective group,
      Bounds bounds,
      Consumer<String> log,
      Consumer<String> onVerdict) {
    this.runDir = runDir;
    this.group = group;
    this.bounds = bounds;
    this.log = log;
    this.onVerdict = onVerdict;
    this.peers = watched(group.rank(), group.worldSize());
    this.seen = new Seen[peers.length];
    for (int i = 0; i < seen.length; i++) {
      seen[i] = new Seen();
      // what each file says before this run's peers can have ended: a run resumed in the same
      // directory finds the last run's files, whose ended states must not count
      RankStatus before = read(peers[i]);
      seen[i].firstUpdatedAt = before == null ? ABSENT : before.updatedAt();
    }
    this.startedAt = System.nanoTime();
    this.host = RankStatus.thisHost();
    this.thread = Thread.ofPlatform().daemon().name("cria-peer-watch").unstarted(this::loop);
  }

  /**
   * Starts watching the peers of {@code group}'s rank in {@code runDir} on a daemon thread: reports
   * go to {@code log}; a verdict goes to {@code onVerdict} (prefixed with this rank), then aborts
   * the group.
   */
  public static PeerWatch start(
      Path runDir,
      CountedCollective group,
      Bounds bounds,
      Consumer<String> log,
      Consumer<String> onVerdict) {
    PeerWatch w = new PeerWatch(runDir, group, bounds, log, onVerdict);
    if (w.peers.length > 0) {
      w.thread.start();
    }
    return w;
  }

  /** A watch that looks only when asked ({@link #look}): for tests and for a last look. */
  static PeerWatch unstarted(
      Path runDir, CountedCollective group, Bounds bounds, Consumer<String> log) {
    return new PeerWatch(runDir, group, bounds, log, v -> {});
  }

  /**
   * The ranks that {@code rank} of {@code world} watches: all the others up to 16 ranks, else those
   * 1, 2, 4, ... ranks away on either side, so that every rank is watched by a few and a failure
   * reaches everyone in a few hops.
   */
  static int[] watched(int rank, int world) {
    TreeSet<Integer> out = new TreeSet<>();
    if (world <= 16) {
      for (int q = 0; q < world; q++) {
        out.add(q);
      }
    } else {
      for (int d = 1; d < world; d *= 2) {
        out.add((rank + d) % world);
        out.add(((rank - d) % world + world) % world);
      }
    }
    out.remove(rank);
    return out.stream().mapToInt(Integer::intValue).toArray();
  }

  /** The verdict that aborted the group, if any. */
  public Optional<String> verdict() {
    return Optional.ofNullable(verdict);
  }

  private void loop() {
    long every = bounds.every().toMillis();
    while (!closed) {
      try {
        Thread.sleep(every);
      } catch (InterruptedException e) {
        return;
      }
      if (closed) {
        return;
      }
      Optional<String> v = look(System.nanoTime());
      if (v.isPresent() && !closed) {
        String reason = "rank " + group.rank() + ": " + v.get();
        verdict = reason;
        onVerdict.accept(reason); // before the abort, which may end the process (Open MPI)
        group.abort(reason);
        return;
      }
    }
  }

  /**
   * Reads the watched peers' status files once, at {@code now} (nanoseconds of this rank's clock):
   * the verdict on the first peer found failed, gone, silent or stuck; slow ones are reported.
   */
  synchronized Optional<String> look(long now) {
    long mine = group.entered();
    for (int i = 0; i < peers.length; i++) {
      int q = peers[i];
      Seen s = seen[i];
      RankStatus status = read(q);
      if (status == null) {
        if (now - startedAt > bounds.silent().toNanos()) {
          return Optional.of(
              String.format(
                  Locale.ROOT,
                  "rank %d stopped answering: it has written no status in %s for %d s",
                  q,
                  StatusFiles.file(runDir, q),
                  bounds.silent().toSeconds()));
        }
        continue;
      }
      if (status.state() == RankState.FAILED && ofThisRun(s, status)) {
        return Optional.of("rank " + q + " failed: " + status.lastError());
      }
      if (status.state().ended()) {
        continue; // it left normally (or the last run did); if it is needed, the collectives say
      }
      if (status.updatedAt() != s.updatedAt) {
        s.updatedAt = status.updatedAt();
        s.updatedSeenAt = now;
      }
      if (status.collectives() != s.collectives) {
        s.collectives = status.collectives();
        s.collectivesSeenAt = now;
        s.reportedSlow = false;
      }
      if (Double.isFinite(status.stepSeconds())) {
        slowestStep =
            Double.isNaN(slowestStep)
                ? status.stepSeconds()
                : Math.max(slowestStep, status.stepSeconds());
      }
      double quiet = (now - Math.max(s.updatedSeenAt, startedAt)) / 1e9;
      if (quiet >= seconds(bounds.heartbeat()) * 2 && status.goneFrom(host)) {
        return Optional.of(
            String.format(
                Locale.ROOT,
                "rank %d (pid %d on this host) is gone: it died without a word (killed, or out of"
                    + " memory?) after step %d",
                q,
                status.pid(),
                status.step()));
      }
      if (quiet >= seconds(bounds.silent())) {
        return Optional.of(
            String.format(
                Locale.ROOT,
                "rank %d (pid %d on %s) stopped answering: its status has not changed for %.0f s"
                    + " (at step %d, %s): stopped (SIGSTOP), frozen, or its file system stalled",
                q,
                status.pid(),
                status.host(),
                quiet,
                status.step(),
                status.state().label()));
      }
      if (mine > s.collectives && s.collectives >= 0) {
        double lagging = (now - s.collectivesSeenAt) / 1e9;
        // a rank that saves, or loads its share of a checkpoint, works alone for long
        Duration limit =
            status.state() == RankState.SAVING || status.state() == RankState.STARTING
                ? bounds.saving()
                : bounds.stuck(slowestStep);
        if (lagging >= seconds(limit)) {
          return Optional.of(
              String.format(
                  Locale.ROOT,
                  "rank %d (pid %d on %s) is stuck: alive, but it has not reached the collective"
                      + " operation this rank waits in for %.0f s (at step %d, %s; allowed %d s):"
                      + " an endless loop, a deadlock, or a stalled read",
                  q,
                  status.pid(),
                  status.host(),
                  lagging,
                  status.step(),
                  status.state().label(),
                  limit.toSeconds()));
        }
        if (!s.reportedSlow
            && quiet < seconds(bounds.heartbeat()) * 2
            && lagging >= Math.max(10, seconds(limit) / 4)) {
          s.reportedSlow = true;
          log.accept(
              String.format(
                  Locale.ROOT,
                  "waiting for rank %d for %.0f s (at step %d, %s): it is alive, a straggler?"
                      + " The job stops if it does not move within %d s",
                  q,
                  lagging,
                  status.step(),
                  status.state().label(),
                  limit.toSeconds()));
        }
      }
    }
    return Optional.empty();
  }

  /**
   * What the watched peers' status files say now, for a message about a failed collective: the
   * peers that failed (with their errors), are gone, or have been silent for more than two
   * heartbeats; empty when all look well.
   */
  public synchronized String explain() {
    List<String> parts = new ArrayList<>();
    long nowMillis = System.currentTimeMillis();
    for (int i = 0; i < peers.length; i++) {
      int q = peers[i];
      RankStatus status = read(q);
      if (status == null) {
        continue;
      }
      if (status.state() == RankState.FAILED && ofThisRun(seen[i], status)) {
        parts.add("rank " + q + " failed: " + status.lastError());
      } else if (!status.state().ended() && status.goneFrom(host)) {
        parts.add("rank " + q + " (pid " + status.pid() + ") is gone after step " + status.step());
      } else if (!status.state().ended()
          && status.ageSeconds(nowMillis) > seconds(bounds.heartbeat()) * 2) {
        parts.add(
            String.format(
                Locale.ROOT,
                "rank %d last wrote its status %.0f s ago (at step %d)",
                q,
                status.ageSeconds(nowMillis),
                status.step()));
      }
    }
    return String.join("; ", parts);
  }

  /**
   * The failure this rank reports for {@code e}, a collective operation that failed here: the
   * watch's verdict when it has one (the operation may have failed on its own first, a peer's
   * leaving seen in the same instant the watch read why, and then {@code e} does not name it), else
   * {@code e}'s message followed by what the peers' status files say ({@link #explain()}).
   */
  public CollectiveException named(CollectiveException e) {
    String v = verdict;
    if (v != null) {
      return v.equals(e.getMessage()) ? e : new CollectiveException(v, e);
    }
    String trouble = explain();
    return trouble.isEmpty() ? e : new CollectiveException(e.getMessage() + "; " + trouble, e);
  }

  /**
   * Whether {@code status} was written by this run's rank: a run resumed in the same directory
   * finds its ranks' files as the last run left them, so an ended state counts only when the file
   * was absent when the watch began or has changed since.
   */
  private static boolean ofThisRun(Seen s, RankStatus status) {
    return !status.state().ended()
        || s.firstUpdatedAt == ABSENT
        || status.updatedAt() != s.firstUpdatedAt;
  }

  private static double seconds(Duration d) {
    return d.toNanos() / 1e9;
  }

  private RankStatus read(int q) {
    try {
      return StatusFiles.read(StatusFiles.file(runDir, q));
    } catch (NoSuchFileException e) {
      return null;
    } catch (IOException | RuntimeException e) {
      return null; // being replaced, or damaged: the next look reads it again
    }
  }

  /** Stops watching (the run ends normally, or has failed already). */
  @Override
  public void close() {
    closed = true;
    thread.interrupt();
  }
}
