package dev.cria.board;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A bounded load test on loopback: 50 clients send 200 requests each (runs, scalars, ranks,
 * metrics) while a run keeps writing events; none may fail. The latencies are printed, not asserted
 * (speed is measured, never asserted in unit tests).
 */
class BoardLoadTest {
  @TempDir Path logdir;

  @Test
  void fiftyClientsOfTwoHundredRequestsGetNoErrorWhileTheRunWrites() throws Exception {
    BoardTest.writeRuns(logdir);
    Path live = logdir.resolve("brown/events.out.tfevents.1700000300.host");
    try (Board board =
            Board.start(new Board.Options(logdir, "127.0.0.1", 0, "admin", "load", null, null));
        ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
      AtomicBoolean writing = new AtomicBoolean(true);
      Thread writer =
          Thread.ofPlatform()
              .start(() -> {
                long step = 13;
                while (writing.get()) {
                  try {
                    Events.scalar(live, "reduced_train_loss", step, (float) (5.0 / step));
                    step++;
                    Thread.sleep(2);
                  } catch (Exception e) {
                    throw new IllegalStateException(e);
                  }
                }
              });
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
      String auth =
          "Basic "
              + Base64.getEncoder().encodeToString("admin:load".getBytes(StandardCharsets.UTF_8));
      String[] paths = {"/api/runs", "/api/scalars?run=brown", "/api/ranks?run=brown", "/metrics"};
      List<Long> nanos = Collections.synchronizedList(new ArrayList<>());
      AtomicInteger errors = new AtomicInteger();
      List<Future<?>> done = new ArrayList<>();
      long t0 = System.nanoTime();
      for (int c = 0; c < 50; c++) {
        int client = c;
        done.add(
            clients.submit(() -> {
              for (int i = 0; i < 200; i++) {
                HttpRequest req =
                    HttpRequest.newBuilder(board.url().resolve(paths[(client + i) % paths.length]))
                        .header("Authorization", auth)
                        .timeout(Duration.ofSeconds(30))
                        .build();
                long start = System.nanoTime();
                try {
                  HttpResponse<byte[]> r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
                  if (r.statusCode() != 200) {
                    errors.incrementAndGet();
                  }
                } catch (Exception e) {
                  errors.incrementAndGet();
                }
                nanos.add(System.nanoTime() - start);
              }
              return null;
            }));
      }
      for (Future<?> f : done) {
        f.get();
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      writing.set(false);
      writer.join();
      List<Long> sorted = new ArrayList<>(nanos);
      Collections.sort(sorted);
      System.out.printf(
          Locale.ROOT,
          "board load: %d requests in %.1f s (%.0f/s), p50 %.1f ms, p99 %.1f ms,"
              + " max %.1f ms, %d errors%n",
          sorted.size(),
          seconds,
          sorted.size() / seconds,
          sorted.get(sorted.size() / 2) / 1e6,
          sorted.get((int) (sorted.size() * 0.99)) / 1e6,
          sorted.getLast() / 1e6,
          errors.get());
      assertThat(sorted).hasSize(10_000);
      assertThat(errors.get()).isZero();
    }
  }
}
