package dev.cria.train.distributed;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/** A group of ranks for tests: threads of this JVM, each joined to the TCP ring over loopback. */
public final class LoopbackRanks {
  private LoopbackRanks() {}

  /** What one rank does with its joined collective. */
  public interface Body<T> {
    T run(Collective group) throws Exception;
  }

  /**
   * Runs {@code body} on {@code world} ranks with operation timeout {@code timeout}; the results by
   * rank.
   */
  public static <T> List<T> run(int world, Duration timeout, Body<T> body) throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    ExecutorService pool = Executors.newFixedThreadPool(world);
    try {
      List<Future<T>> futures = new ArrayList<>();
      for (int r = 0; r < world; r++) {
        RankEnvironment env = new RankEnvironment(r, world, r, "127.0.0.1", port);
        futures.add(
            pool.submit(() -> {
              try (Collective group = TcpCollective.join(env, Duration.ofSeconds(30), timeout)) {
                return body.run(group);
              }
            }));
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
