package dev.cria.train.metrics;

import dev.cria.core.run.RankState;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import dev.cria.engine.backend.HostBuffers;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Keeps {@code <run>/<rank>/status.json} current ({@link RankStatus}, the contract {@code cria top}
 * and the board read): on every state change, after a step (at most twice a second), and on a
 * heartbeat thread every {@code heartbeat} while the rank is busy with something long (a
 * validation, a checkpoint, a collective that waits for a slow peer), so a rank that stops updating
 * really is stuck or gone. A write that fails (a full disk) is retried on the next beat, never
 * fails the run.
 */
public final class StatusSink implements MetricsSink {
  /** Steps are written at most this often (a tiny model takes hundreds of steps a second). */
  private static final long STEP_WRITE_NANOS = 500_000_000L;

  private final LongSupplier clock; // nanoseconds, for the step writes' rate
  private long lastStepWrite;

  private final Path runDir;
  private final LongSupplier collectives;
  private final ScheduledExecutorService beat;
  private RankStatus status;

  /** Starts the status of rank {@code rank} of {@code worldSize} in {@code runDir}: starting. */
  public StatusSink(Path runDir, int rank, int worldSize, long maxSteps, Duration heartbeat) {
    this(runDir, rank, worldSize, maxSteps, heartbeat, () -> 0);
  }

  /**
   * As above, publishing with every write the collective operations the rank has entered, read from
   * {@code collectives} (what {@link dev.cria.train.distributed.PeerWatch} compares).
   */
  public StatusSink(
      Path runDir,
      int rank,
      int worldSize,
      long maxSteps,
      Duration heartbeat,
      LongSupplier collectives) {
    this(runDir, rank, worldSize, maxSteps, heartbeat, collectives, System::nanoTime);
  }

  /** As above, with the clock that spaces the step writes (tests give one they control). */
  StatusSink(
      Path runDir,
      int rank,
      int worldSize,
      long maxSteps,
      Duration heartbeat,
      LongSupplier collectives,
      LongSupplier clock) {
    this.runDir = runDir;
    this.collectives = collectives;
    this.clock = clock;
    this.lastStepWrite = clock.getAsLong() - STEP_WRITE_NANOS;
    long now = System.currentTimeMillis();
    Path name = runDir.toAbsolutePath().normalize().getFileName();
    this.status =
        new RankStatus(
            name == null ? runDir.toString() : name.toString(),
            rank,
            worldSize,
            RankStatus.thisHost(),
            ProcessHandle.current().pid(),
            RankState.STARTING,
            0,
            maxSteps,
            Double.NaN,
            Double.NaN,
            Double.NaN,
            Double.NaN,
            Double.NaN,
            Double.NaN,
            0,
            0,
            Double.NaN,
            now,
            now,
            0,
            null,
            null,
            null,
            null,
            heartbeat.toNanos() / 1e9);
    write();
    this.beat =
        Executors.newSingleThreadScheduledExecutor(r -> {
          Thread t = new Thread(r, "cria-status-heartbeat");
          t.setDaemon(true);
          return t;
        });
    long millis = heartbeat.toMillis();
    beat.scheduleAtFixedRate(this::write, millis, millis, TimeUnit.MILLISECONDS);
  }

  /** The status as last written. */
  public synchronized RankStatus status() {
    return status;
  }

  @Override
  public synchronized void resumed(long step) {
    status = status.resumedAt(step);
    write();
  }

  @Override
  public synchronized void step(StepMetrics m) {
    status =
        status.afterStep(
            m.step(),
            m.maxSteps(),
            m.loss(),
            m.lr(),
            m.tokensPerSec(),
            m.mfu(),
            m.stepSeconds(),
            m.exposedCommunicationSeconds());
    long now = clock.getAsLong();
    if (now - lastStepWrite >= STEP_WRITE_NANOS || m.step() == m.maxSteps()) {
      lastStepWrite = now;
      write();
    }
  }

  @Override
  public synchronized void compute(String precision, String matmul) {
    status = status.computing(precision, matmul);
    write();
  }

  @Override
  public synchronized void placed(RankStatus.Parallel where) {
    status = status.placed(where);
    write();
  }

  @Override
  public synchronized void state(RankState state) {
    status = status.with(state, status.updatedAt());
    write();
  }

  @Override
  public synchronized void failed(String message) {
    status = status.failed(message);
    write();
  }

  /** Stops the heartbeat and writes the last status. */
  @Override
  public void close() {
    beat.shutdownNow();
    write();
  }

  /** Rewrites the file with the time, the memory and the CPU use of now. */
  private synchronized void write() {
    status =
        status
            .measured(
                residentBytes(), HostBuffers.liveBytes(), cpuLoad(), System.currentTimeMillis())
            .withCollectives(collectives.getAsLong());
    try {
      StatusFiles.write(runDir, status);
    } catch (IOException | RuntimeException e) {
      // the next beat tries again; watching must never break training
    }
  }

  /** Resident memory from /proc (Linux), else what the JVM has reserved. */
  private static long residentBytes() {
    return ProcessMemory.resident().orElseGet(() -> Runtime.getRuntime().totalMemory());
  }

  private static double cpuLoad() {
    if (ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os) {
      double load = os.getProcessCpuLoad();
      return load >= 0 ? load : Double.NaN;
    }
    return Double.NaN;
  }
}
