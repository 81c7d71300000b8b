package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * A group of ranks for tests: threads of this JVM, each joined over loopback with the same job key
 * (the TCP ring, or moved onto a shared mapping).
 */
public final class LoopbackRanks {
  private LoopbackRanks() {}

  /** What one rank does with its joined collective. */
  public interface Body<T> {
    T run(Collective group) throws Exception;
  }

  /**
   * Runs {@code body} on {@code world} ranks of the TCP ring with operation timeout {@code
   * timeout}.
   */
  public static <T> List<T> run(int world, Duration timeout, Body<T> body) throws Exception {
    return run(CollectiveKind.TCP, world, timeout, body);
  }

  /**
   * Runs {@code body} on {@code world} ranks joined with collectives {@code kind}; the results by
   * rank.
   */
  public static <T> List<T> run(CollectiveKind kind, int world, Duration timeout, Body<T> body)
      throws Exception {
    return run(kind, world, timeout, line -> {}, port -> {}, body);
  }

  /** What happens between rank 0's start and the others' (strangers knocking, say). */
  public interface BeforeOthers {
    void run(int port) throws Exception;
  }

  /**
   * Runs {@code body} on {@code world} ranks: rank 0 first, then {@code beforeOthers} with the
   * rendezvous port, then the other ranks; every rank's join reports to {@code log}.
   */
  public static <T> List<T> run(
      CollectiveKind kind,
      int world,
      Duration timeout,
      java.util.function.Consumer<String> log,
      BeforeOthers beforeOthers,
      Body<T> body)
      throws Exception {
    return run(kind, world, timeout, log, beforeOthers, r -> null, body);
  }

  /**
   * As {@link #run(CollectiveKind, int, Duration, java.util.function.Consumer, BeforeOthers,
   * Body)}, each rank making its shared mappings in {@code hostOf.apply(rank)} (null: {@code
   * /dev/shm}): ranks given different directories behave as ranks on different hosts.
   */
  public static <T> List<T> run(
      CollectiveKind kind,
      int world,
      Duration timeout,
      java.util.function.Consumer<String> log,
      BeforeOthers beforeOthers,
      java.util.function.IntFunction<java.nio.file.Path> hostOf,
      Body<T> body)
      throws Exception {
    int port = LocalRanks.freePort();
    JobKey key = JobKey.generate("test-" + port);
    JoinSettings settings =
        JoinSettings.of(Duration.ofSeconds(30), timeout)
            .withKind(kind)
            .withHandshakeTimeout(Duration.ofMillis(500))
            .withLog(log);
    ExecutorService pool = Executors.newFixedThreadPool(world);
    try {
      List<Future<T>> futures = new ArrayList<>();
      for (int r = 0; r < world; r++) {
        RankEnvironment env = new RankEnvironment(r, world, r, "127.0.0.1", port);
        JoinSettings mine =
            hostOf.apply(r) == null ? settings : settings.withShmDirectory(hostOf.apply(r));
        futures.add(
            pool.submit(() -> {
              try (Collective group = Collectives.join(env, Optional.of(key), mine)) {
                return body.run(group);
              }
            }));
        if (r == 0) {
          beforeOthers.run(port);
        }
      }
      List<T> results = new ArrayList<>();
      for (Future<T> f : futures) {
        results.add(f.get(300, TimeUnit.SECONDS));
      }
      return results;
    } finally {
      pool.shutdownNow();
    }
  }
}
