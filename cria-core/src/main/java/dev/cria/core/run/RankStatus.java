package dev.cria.core.run;

/**
 * The live state of one rank, {@code <run>/<rank>/status.json}: the contract that {@code cria top},
 * {@code cria board} and {@code cria k8s status} read from shared storage, from any machine.
 * Written by the rank on every step and on a heartbeat (every few seconds, also during long
 * validations and saves), replaced atomically, so a reader sees a whole file. Versioned by {@link
 * #FORMAT}; fields are added, never renamed or removed, within a version. NaN stands for "not known
 * yet" and is written as JSON {@code null}.
 *
 * @param run the run's name (its directory's name)
 * @param host the host name the rank runs on
 * @param state what it is doing
 * @param step optimizer steps completed
 * @param loss the last step's training loss (the mean over the ranks)
 * @param lr the last step's learning rate
 * @param tokensPerSec the job's tokens per second over the last 10 steps
 * @param mfu model FLOP/s over the measured peak of all ranks
 * @param stepSeconds the last step's wall time
 * @param communicationWaitSeconds of that, the time the step waited for collectives
 * @param rssBytes resident memory of the process
 * @param offHeapBytes buffers the engine holds outside the Java heap (parameters, gradients,
 *     optimizer state, activations)
 * @param cpuLoad the process's CPU use over the last interval, 0 to 1 of all cores
 * @param startedAt when the rank started, milliseconds since the epoch
 * @param updatedAt when the file was written, milliseconds since the epoch (the heartbeat)
 * @param collectives the collective operations the rank has entered; every rank of a job enters the
 *     same ones in the same order, so a rank behind the others is the one they wait for
 * @param lastError the error the rank failed with, or null
 * @param precision what the model computes in ({@code 32}, {@code bf16-mixed}), or null before the
 *     model is built
 * @param matmul what multiplies the linear layers' matrices, as the train header names it (the
 *     backend for fp32; for bf16-mixed oneDNN's version and the kernel and ISA it chose, such as
 *     {@code brg_matmul:avx512_core_amx}), or null before the model is built
 * @param parallel the rank's place among the job's data- and tensor-parallel ranks, or null before
 *     the trainer knows it
 * @param heartbeatSeconds how often the rank rewrites the file when nothing else does (its run's
 *     {@code distributed.heartbeat_seconds}), NaN in a file from before it was written
 */
public record RankStatus(
    String run,
    int rank,
    int worldSize,
    String host,
    long pid,
    RankState state,
    long step,
    long maxSteps,
    double loss,
    double lr,
    double tokensPerSec,
    double mfu,
    double stepSeconds,
    double communicationWaitSeconds,
    long rssBytes,
    long offHeapBytes,
    double cpuLoad,
    long startedAt,
    long updatedAt,
    long collectives,
    String lastError,
    String precision,
    String matmul,
    Parallel parallel,
    double heartbeatSeconds) {
  /**
   * Where a rank stands in its job's layout: replica {@code dataRank} of {@code dataParallel},
   * slice {@code tensorRank} of {@code tensorParallel} (0 of 1 without tensor parallelism).
   */
  public record Parallel(int dataRank, int dataParallel, int tensorRank, int tensorParallel) {
    public Parallel {
      if (dataRank < 0
          || dataRank >= dataParallel
          || tensorRank < 0
          || tensorRank >= tensorParallel) {
        throw new IllegalArgumentException(
            "data rank "
                + dataRank
                + " of "
                + dataParallel
                + ", tensor rank "
                + tensorRank
                + " of "
                + tensorParallel);
      }
    }

    /** {@code "dp 1/2 tp 0/4"}; {@code "dp 1/2"} without tensor parallelism. */
    @Override
    public String toString() {
      return "dp "
          + dataRank
          + "/"
          + dataParallel
          + (tensorParallel > 1 ? " tp " + tensorRank + "/" + tensorParallel : "");
    }
  }

  /** The format name and version written into every file. */
  public static final String FORMAT = "cria.status/v1";

  /** The file's name in each rank's directory. */
  public static final String FILE = "status.json";

  /**
   * This machine's name as a rank writes it in {@link #host} ("localhost" when it cannot be told):
   * one function for the writer and for the watch that compares it with its own.
   */
  public static String thisHost() {
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.io.IOException e) {
      return "localhost";
    }
  }

  /**
   * Whether the rank's process ran on {@code thisHost} and is gone without ending: no live process
   * has its pid, or the one that has it started after the rank did (the pid taken again). False for
   * a rank of another host, whose process cannot be looked at from here, and for one that ended.
   */
  public boolean goneFrom(String thisHost) {
    if (state.ended() || pid <= 0 || !host.equals(thisHost)) {
      return false;
    }
    return ProcessHandle.of(pid)
        .filter(ProcessHandle::isAlive)
        .map(p -> p.info().startInstant().map(t -> t.toEpochMilli() > startedAt).orElse(false))
        .orElse(true);
  }

  /** Seconds since the last update at {@code nowMillis}. */
  public double ageSeconds(long nowMillis) {
    return Math.max(0, nowMillis - updatedAt) / 1e3;
  }

  /** A copy in another state, updated at {@code nowMillis}. */
  public RankStatus with(RankState newState, long nowMillis) {
    Copy c = new Copy(this);
    c.state = newState;
    c.updatedAt = nowMillis;
    return c.build();
  }

  /**
   * A copy that goes on from a checkpoint of step {@code step}: that many steps done, none of this
   * process's yet (no loss or speed of its own).
   */
  public RankStatus resumedAt(long step) {
    Copy c = new Copy(this);
    c.step = step;
    return c.build();
  }

  /** A copy after optimizer step {@code step}: training, with that step's numbers. */
  public RankStatus afterStep(
      long step,
      long maxSteps,
      double loss,
      double lr,
      double tokensPerSec,
      double mfu,
      double stepSeconds,
      double communicationWaitSeconds) {
    Copy c = new Copy(this);
    c.state = RankState.TRAINING;
    c.step = step;
    c.maxSteps = maxSteps;
    c.loss = loss;
    c.lr = lr;
    c.tokensPerSec = tokensPerSec;
    c.mfu = mfu;
    c.stepSeconds = stepSeconds;
    c.communicationWaitSeconds = communicationWaitSeconds;
    return c.build();
  }

  /** A copy that has failed with {@code error}. */
  public RankStatus failed(String error) {
    Copy c = new Copy(this);
    c.state = RankState.FAILED;
    c.lastError = error;
    return c.build();
  }

  /** A copy that has entered {@code entered} collective operations. */
  public RankStatus withCollectives(long entered) {
    Copy c = new Copy(this);
    c.collectives = entered;
    return c.build();
  }

  /** A copy that names what the model computes in and what multiplies its matrices. */
  public RankStatus computing(String newPrecision, String newMatmul) {
    Copy c = new Copy(this);
    c.precision = newPrecision;
    c.matmul = newMatmul;
    return c.build();
  }

  /** A copy that says where the rank stands in the job's layout. */
  public RankStatus placed(Parallel where) {
    Copy c = new Copy(this);
    c.parallel = where;
    return c.build();
  }

  /** A copy with the process's memory and CPU use measured at {@code nowMillis}. */
  public RankStatus measured(long rss, long offHeap, double cpu, long nowMillis) {
    Copy c = new Copy(this);
    c.rssBytes = rss;
    c.offHeapBytes = offHeap;
    c.cpuLoad = cpu;
    c.updatedAt = nowMillis;
    return c.build();
  }

  /** A copy of a status with some fields changed: what the with-methods below start from. */
  private static final class Copy {
    String run;
    int rank;
    int worldSize;
    String host;
    long pid;
    RankState state;
    long step;
    long maxSteps;
    double loss;
    double lr;
    double tokensPerSec;
    double mfu;
    double stepSeconds;
    double communicationWaitSeconds;
    long rssBytes;
    long offHeapBytes;
    double cpuLoad;
    long startedAt;
    long updatedAt;
    long collectives;
    String lastError;
    String precision;
    String matmul;
    Parallel parallel;
    double heartbeatSeconds;

    Copy(RankStatus s) {
      run = s.run;
      rank = s.rank;
      worldSize = s.worldSize;
      host = s.host;
      pid = s.pid;
      state = s.state;
      step = s.step;
      maxSteps = s.maxSteps;
      loss = s.loss;
      lr = s.lr;
      tokensPerSec = s.tokensPerSec;
      mfu = s.mfu;
      stepSeconds = s.stepSeconds;
      communicationWaitSeconds = s.communicationWaitSeconds;
      rssBytes = s.rssBytes;
      offHeapBytes = s.offHeapBytes;
      cpuLoad = s.cpuLoad;
      startedAt = s.startedAt;
      updatedAt = s.updatedAt;
      collectives = s.collectives;
      lastError = s.lastError;
      precision = s.precision;
      matmul = s.matmul;
      parallel = s.parallel;
      heartbeatSeconds = s.heartbeatSeconds;
    }

    RankStatus build() {
      return new RankStatus(
          run,
          rank,
          worldSize,
          host,
          pid,
          state,
          step,
          maxSteps,
          loss,
          lr,
          tokensPerSec,
          mfu,
          stepSeconds,
          communicationWaitSeconds,
          rssBytes,
          offHeapBytes,
          cpuLoad,
          startedAt,
          updatedAt,
          collectives,
          lastError,
          precision,
          matmul,
          parallel,
          heartbeatSeconds);
    }
  }
}
