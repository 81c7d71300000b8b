package dev.cria.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A fixed pool of {@code threads} workers for fork-join over index ranges, built for the kernels'
 * rhythm: thousands of short parallel sections per training step, each needing every core at once.
 *
 * <p>The calling thread is worker 0 and does its share of the work; the pool owns {@code threads -
 * 1} daemon threads named {@code cria-kernel-1 ...}. A call publishes one job (no per-call
 * allocation: the job is a handful of fields written before a volatile epoch bump), wakes the
 * workers, runs its own part, and waits for the others. Idle workers spin for a short while
 * ({@value #SPIN_NANOS} ns: {@link Thread#onSpinWait()} first, then {@link Thread#yield()}) before
 * they park, so back-to-back calls cost about a microsecond of hand-off while a pool that sits idle
 * does not burn CPU.
 *
 * <p>Rules:
 *
 * <ul>
 *   <li>Bodies receive a {@code worker} index in {@code [0, threads)}; two bodies running at the
 *       same time never share an index, so callers may index per-thread scratch buffers by it.
 *   <li>A {@link RuntimeException} or {@link Error} thrown by any body is rethrown to the caller
 *       once every participant has finished (the first one thrown; later ones are attached as
 *       suppressed). {@link #forEach} stops handing out new tasks after a failure.
 *   <li><b>Nested calls work, serially</b>: a {@code forRange}/{@code forEach} issued from inside a
 *       body of the same pool runs the whole inner range on the calling thread, passing that
 *       thread's own worker index, so per-thread scratch stays private. It never deadlocks, but it
 *       gains no parallelism.
 *   <li>Calls from several unrelated threads at once are serialized (one job at a time).
 *   <li>After {@link #close()} the workers are stopped and further calls throw {@link
 *       IllegalStateException}. {@link #serial()} is a shared one-thread instance that needs no
 *       closing.
 * </ul>
 */
public final class Parallel implements AutoCloseable {

  /** The body of {@link #forRange}: handles {@code [from, to)} as participant {@code worker}. */
  @FunctionalInterface
  public interface RangeBody {
    void run(int from, int to, int worker);
  }

  /** The body of {@link #forEach}: handles task {@code task} as participant {@code worker}. */
  @FunctionalInterface
  public interface TaskBody {
    void run(int task, int worker);
  }

  /** How long an idle worker (or a waiting caller) spins, then yields, before it parks. */
  static final long SPIN_NANOS = 100_000;

  /**
   * Busy-wait rounds ({@link Thread#onSpinWait()}, a few microseconds in all) before a waiting
   * thread starts to {@link Thread#yield()} instead, so that when there are more runnable threads
   * than cores (other work on the machine, or a pool larger than the machine) the thread it waits
   * for gets the core.
   */
  static final int SPIN_BEFORE_YIELD = 1 << 10;

  private static final Parallel SERIAL = new Parallel(1);

  private final int threads;
  private final Worker[] workers; // index 0 unused: the caller is worker 0
  private final ReentrantLock callLock = new ReentrantLock();

  // The current job, published by the volatile write of epoch.
  private RangeBody rangeBody;
  private TaskBody taskBody;
  private int jobStart;
  private int jobEnd;
  private final AtomicInteger nextTask = new AtomicInteger();

  private volatile long epoch;
  private volatile boolean shutdown;
  private final AtomicInteger pending = new AtomicInteger();
  private volatile Thread waitingCaller;
  private volatile Throwable failure;
  private final Object failureLock = new Object();

  private Parallel(int threads) {
    this.threads = threads;
    this.workers = new Worker[threads];
    for (int i = 1; i < threads; i++) {
      Worker w = new Worker(this, i);
      workers[i] = w;
      w.start();
    }
  }

  /**
   * A pool of {@code threads} participants (the caller plus {@code threads - 1} daemon threads).
   */
  public static Parallel create(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1: " + threads);
    }
    return threads == 1 ? new Parallel(1) : new Parallel(threads);
  }

  /** The shared single-threaded instance: every call runs inline on the caller as worker 0. */
  public static Parallel serial() {
    return SERIAL;
  }

  /** The number of participants, the calling thread included. */
  public int threads() {
    return threads;
  }

  /**
   * Splits {@code [start, end)} into {@link #threads()} contiguous chunks of near-equal size and
   * runs {@code body} on each non-empty chunk, chunk {@code i} on worker {@code i}.
   */
  public void forRange(int start, int end, RangeBody body) {
    if (end <= start) {
      return;
    }
    int nested = nestedWorker();
    if (nested >= 0) {
      body.run(start, end, nested);
      return;
    }
    if (threads == 1 || end - start == 1) {
      checkOpen();
      body.run(start, end, 0);
      return;
    }
    callLock.lock();
    try {
      checkOpen();
      rangeBody = body;
      taskBody = null;
      jobStart = start;
      jobEnd = end;
      runJob();
    } finally {
      rangeBody = null;
      callLock.unlock();
    }
  }

  /**
   * Runs {@code body} for every task in {@code [0, tasks)}, handing tasks out dynamically (one at a
   * time, in increasing order) to whichever participant is free.
   */
  public void forEach(int tasks, TaskBody body) {
    if (tasks <= 0) {
      return;
    }
    int nested = nestedWorker();
    if (nested >= 0) {
      for (int t = 0; t < tasks; t++) {
        body.run(t, nested);
      }
      return;
    }
    if (threads == 1 || tasks == 1) {
      checkOpen();
      for (int t = 0; t < tasks; t++) {
        body.run(t, 0);
      }
      return;
    }
    callLock.lock();
    try {
      checkOpen();
      taskBody = body;
      rangeBody = null;
      jobStart = 0;
      jobEnd = tasks;
      nextTask.set(0);
      runJob();
    } finally {
      taskBody = null;
      callLock.unlock();
    }
  }

  /**
   * Stops the worker threads (waiting for them to exit); idempotent; a no-op on {@link #serial()}.
   */
  @Override
  public void close() {
    if (this == SERIAL) {
      return;
    }
    if (threads == 1) {
      shutdown = true;
      return;
    }
    callLock.lock();
    try {
      if (shutdown) {
        return;
      }
      shutdown = true;
      epoch = epoch + 1;
      for (int i = 1; i < threads; i++) {
        LockSupport.unpark(workers[i]);
      }
    } finally {
      callLock.unlock();
    }
    if (Thread.currentThread() instanceof Worker w && w.pool == this) {
      return; // closing from inside a body: do not join ourselves
    }
    for (int i = 1; i < threads; i++) {
      try {
        workers[i].join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** Whether {@link #close()} was called (never true for {@link #serial()}). */
  public boolean isClosed() {
    return shutdown;
  }

  @Override
  public String toString() {
    return "Parallel[threads=" + threads + (shutdown ? ", closed" : "") + "]";
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * The worker index of the current thread if it is already inside a body of this pool, else -1.
   */
  private int nestedWorker() {
    Thread t = Thread.currentThread();
    if (t instanceof Worker w && w.pool == this) {
      return w.index;
    }
    return callLock.isHeldByCurrentThread() ? 0 : -1;
  }

  private void checkOpen() {
    if (shutdown) {
      throw new IllegalStateException("Parallel pool is closed");
    }
  }

  /** Publishes the job set up by the caller, runs part 0, waits for the rest, rethrows failures. */
  private void runJob() {
    failure = null;
    pending.set(threads - 1);
    epoch = epoch + 1; // volatile write: publishes the job fields above
    for (int i = 1; i < threads; i++) {
      Worker w = workers[i];
      if (w.parked) {
        LockSupport.unpark(w);
      }
    }
    participate(0);
    awaitWorkers();
    Throwable f = failure;
    if (f != null) {
      failure = null;
      if (f instanceof RuntimeException re) {
        throw re;
      }
      if (f instanceof Error e) {
        throw e;
      }
      throw new RuntimeException(f);
    }
  }

  private void awaitWorkers() {
    if (pending.get() == 0) {
      return;
    }
    long spinUntil = System.nanoTime() + SPIN_NANOS;
    int spins = 0;
    while (pending.get() != 0) {
      if (++spins < SPIN_BEFORE_YIELD) {
        Thread.onSpinWait();
      } else if (System.nanoTime() < spinUntil) {
        Thread.yield();
      } else {
        waitingCaller = Thread.currentThread();
        if (pending.get() != 0) {
          LockSupport.park(this);
        }
        waitingCaller = null;
      }
    }
  }

  /** Runs this participant's share of the current job, recording (not throwing) failures. */
  private void participate(int worker) {
    try {
      RangeBody rb = rangeBody;
      if (rb != null) {
        long len = (long) jobEnd - jobStart;
        int from = jobStart + (int) (len * worker / threads);
        int to = jobStart + (int) (len * (worker + 1) / threads);
        if (from < to) {
          rb.run(from, to, worker);
        }
      } else {
        TaskBody tb = taskBody;
        int tasks = jobEnd;
        while (failure == null) {
          int t = nextTask.getAndIncrement();
          if (t >= tasks) {
            break;
          }
          tb.run(t, worker);
        }
      }
    } catch (Throwable t) {
      recordFailure(t);
    }
  }

  private void recordFailure(Throwable t) {
    synchronized (failureLock) {
      Throwable f = failure;
      if (f == null) {
        failure = t;
      } else if (f != t) {
        f.addSuppressed(t);
      }
    }
  }

  private void workerDone() {
    if (pending.decrementAndGet() == 0) {
      Thread caller = waitingCaller;
      if (caller != null) {
        LockSupport.unpark(caller);
      }
    }
  }

  private static final class Worker extends Thread {
    final Parallel pool;
    final int index;
    volatile boolean parked;

    Worker(Parallel pool, int index) {
      super("cria-kernel-" + index);
      this.pool = pool;
      this.index = index;
      setDaemon(true);
    }

    @Override
    public void run() {
      Parallel p = pool;
      long seen = 0; // the epoch at construction: a job published before this thread ran is seen
      while (true) {
        long e = p.epoch;
        if (e == seen) {
          long spinUntil = System.nanoTime() + SPIN_NANOS;
          int spins = 0;
          while ((e = p.epoch) == seen) {
            if (++spins < SPIN_BEFORE_YIELD) {
              Thread.onSpinWait();
            } else if (System.nanoTime() < spinUntil) {
              Thread.yield();
            } else {
              parked = true;
              if (p.epoch == seen) {
                LockSupport.park(p);
              }
              parked = false;
            }
          }
        }
        seen = e;
        if (p.shutdown) {
          return;
        }
        p.participate(index);
        p.workerDone();
      }
    }
  }
}
