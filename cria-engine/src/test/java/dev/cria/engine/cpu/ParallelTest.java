package dev.cria.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class ParallelTest {

  @Test
  void forRangeCoversEveryIndexOnceInContiguousChunksWithValidWorkers() {
    for (int threads = 1; threads <= 4; threads++) {
      try (Parallel p = Parallel.create(threads)) {
        assertThat(p.threads()).isEqualTo(threads);
        for (int[] range :
            new int[][] {{0, 0}, {5, 5}, {0, 1}, {3, 5}, {0, 3}, {7, 1007}, {-10, 13}}) {
          int start = range[0];
          int end = range[1];
          int len = Math.max(0, end - start);
          AtomicIntegerArray hits = new AtomicIntegerArray(len);
          AtomicIntegerArray chunksPerWorker = new AtomicIntegerArray(threads);
          final int t = threads;
          p.forRange(
              start,
              end,
              (from, to, worker) -> {
                assertThat(worker).isBetween(0, t - 1);
                assertThat(from).isLessThan(to);
                chunksPerWorker.incrementAndGet(worker);
                for (int i = from; i < to; i++) {
                  hits.incrementAndGet(i - start);
                }
              });
          for (int i = 0; i < len; i++) {
            assertThat(hits.get(i))
                .as("index %d of [%d,%d) threads=%d", i, start, end, threads)
                .isEqualTo(1);
          }
          for (int w = 0; w < threads; w++) {
            assertThat(chunksPerWorker.get(w)).isLessThanOrEqualTo(1);
          }
        }
      }
    }
  }

  @Test
  void forRangeSplitsEvenlyOneChunkPerWorker() {
    try (Parallel p = Parallel.create(4)) {
      int[] sizes = new int[4];
      p.forRange(0, 100, (from, to, worker) -> sizes[worker] = to - from);
      assertThat(sizes).containsExactly(25, 25, 25, 25);
    }
  }

  @Test
  void forEachRunsEveryTaskOnceAndSumsCorrectly() {
    for (int threads = 1; threads <= 4; threads++) {
      try (Parallel p = Parallel.create(threads)) {
        for (int tasks : new int[] {0, 1, 2, 3, 5, 64, 1000}) {
          AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(tasks, 1));
          long[] perWorker = new long[threads];
          final int t = threads;
          p.forEach(
              tasks,
              (task, worker) -> {
                assertThat(worker).isBetween(0, t - 1);
                hits.incrementAndGet(task);
                perWorker[worker] += task; // per-worker scratch: no two bodies share an index
              });
          for (int i = 0; i < tasks; i++) {
            assertThat(hits.get(i)).isEqualTo(1);
          }
          long sum = 0;
          for (long s : perWorker) {
            sum += s;
          }
          assertThat(sum).isEqualTo((long) tasks * (tasks - 1) / 2);
        }
      }
    }
  }

  @Test
  void concurrentBodiesNeverShareAWorkerIndex() {
    try (Parallel p = Parallel.create(4)) {
      AtomicIntegerArray inUse = new AtomicIntegerArray(4);
      AtomicInteger clashes = new AtomicInteger();
      for (int round = 0; round < 200; round++) {
        p.forEach(
            37,
            (task, worker) -> {
              if (!inUse.compareAndSet(worker, 0, 1)) {
                clashes.incrementAndGet();
              }
              Thread.onSpinWait();
              inUse.set(worker, 0);
            });
      }
      assertThat(clashes.get()).isZero();
    }
  }

  @Test
  void manyBackToBackCallsAndCallsAfterWorkersParked() throws InterruptedException {
    try (Parallel p = Parallel.create(3)) {
      AtomicLong total = new AtomicLong();
      for (int i = 0; i < 20_000; i++) {
        p.forRange(0, 3, (from, to, worker) -> total.addAndGet(to - from));
      }
      assertThat(total.get()).isEqualTo(60_000);
      for (int i = 0; i < 5; i++) {
        Thread.sleep(5); // well past the spin phase: the workers are parked
        p.forRange(0, 3, (from, to, worker) -> total.addAndGet(to - from));
      }
      assertThat(total.get()).isEqualTo(60_015);
    }
  }

  @Test
  void exceptionsPropagateFromCallerAndWorkersAndThePoolStaysUsable() {
    try (Parallel p = Parallel.create(3)) {
      for (int failing = 0; failing < 3; failing++) {
        final int f = failing;
        assertThatThrownBy(() ->
                p.forRange(
                    0,
                    3,
                    (from, to, worker) -> {
                      if (from == f) {
                        throw new IllegalStateException("boom " + f);
                      }
                    }))
            .isInstanceOf(IllegalStateException.class)
            .hasMessage("boom " + f);
      }
      assertThatThrownBy(() ->
              p.forRange(
                  0,
                  3,
                  (from, to, worker) -> {
                    throw new AssertionError("all fail");
                  }))
          .isInstanceOf(AssertionError.class)
          .satisfies(e -> assertThat(e.getSuppressed()).hasSize(2));
      AtomicInteger ran = new AtomicInteger();
      assertThatThrownBy(() ->
              p.forEach(
                  1000,
                  (task, worker) -> {
                    ran.incrementAndGet();
                    if (task == 10) {
                      throw new ArithmeticException("task 10");
                    }
                    if (task > 10) {
                      // the later tasks take a while, so that a pool that kept handing them out
                      // after the failure would run them all, and one that stops cannot race them
                      try {
                        Thread.sleep(1);
                      } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                      }
                    }
                  }))
          .isInstanceOf(ArithmeticException.class)
          .hasMessage("task 10");
      assertThat(ran.get()).isLessThan(1000); // stops handing out tasks after a failure
      AtomicInteger sum = new AtomicInteger();
      p.forRange(0, 10, (from, to, worker) -> sum.addAndGet(to - from));
      assertThat(sum.get()).isEqualTo(10);
    }
  }

  @Test
  void exceptionsPropagateFromSerial() {
    assertThatThrownBy(() ->
            Parallel.serial()
                .forRange(
                    0,
                    5,
                    (from, to, worker) -> {
                      throw new IllegalArgumentException("serial");
                    }))
        .hasMessage("serial");
  }

  @Test
  void nestedCallsRunSeriallyOnTheCallingWorker() {
    try (Parallel p = Parallel.create(3)) {
      AtomicIntegerArray hits = new AtomicIntegerArray(3 * 50);
      AtomicInteger mismatches = new AtomicInteger();
      p.forRange(
          0,
          3,
          (from, to, outer) -> {
            for (int i = from; i < to; i++) {
              final int base = i * 50;
              p.forRange(
                  0,
                  50,
                  (f2, t2, inner) -> {
                    if (inner != outer) {
                      mismatches.incrementAndGet();
                    }
                    for (int j = f2; j < t2; j++) {
                      hits.incrementAndGet(base + j);
                    }
                  });
              p.forEach(
                  2,
                  (task, inner) -> {
                    if (inner != outer) {
                      mismatches.incrementAndGet();
                    }
                  });
            }
          });
      for (int i = 0; i < hits.length(); i++) {
        assertThat(hits.get(i)).isEqualTo(1);
      }
      assertThat(mismatches.get()).isZero();
    }
  }

  @Test
  void closeStopsTheDaemonWorkerThreads() throws InterruptedException {
    Parallel p = Parallel.create(4);
    Set<Thread> seen = ConcurrentHashMap.newKeySet();
    for (int i = 0; i < 20 && seen.size() < 3; i++) {
      p.forRange(
          0,
          4,
          (from, to, worker) -> {
            if (worker != 0) {
              seen.add(Thread.currentThread());
            }
            try {
              Thread.sleep(1);
            } catch (InterruptedException e) {
              throw new RuntimeException(e);
            }
          });
    }
    assertThat(seen).hasSize(3);
    List<String> names = new ArrayList<>();
    for (Thread t : seen) {
      assertThat(t.isDaemon()).isTrue();
      names.add(t.getName());
    }
    assertThat(names).containsExactlyInAnyOrder("cria-kernel-1", "cria-kernel-2", "cria-kernel-3");
    p.close();
    for (Thread t : seen) {
      t.join(5000);
      assertThat(t.isAlive()).isFalse();
    }
    assertThat(p.isClosed()).isTrue();
    p.close(); // idempotent
    assertThatThrownBy(() -> p.forRange(0, 10, (from, to, worker) -> {}))
        .isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> p.forEach(10, (task, worker) -> {}))
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void serialIsOneThreadAndSurvivesClose() {
    Parallel s = Parallel.serial();
    assertThat(s.threads()).isEqualTo(1);
    s.close();
    int[] seen = new int[3];
    s.forRange(
        2,
        9,
        (from, to, worker) -> {
          seen[0] = from;
          seen[1] = to;
          seen[2] = worker;
        });
    assertThat(seen).containsExactly(2, 9, 0);
    assertThat(Parallel.serial()).isSameAs(s);
    assertThatThrownBy(() -> Parallel.create(0)).isInstanceOf(IllegalArgumentException.class);
  }
}
