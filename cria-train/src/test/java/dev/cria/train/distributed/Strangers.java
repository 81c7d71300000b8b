package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Processes that know a job's port but not its secret, for tests: one that connects and stays
 * silent, one that sends a kilobyte of random bytes, and one that speaks cria's protocol as rank 1
 * with a wrong secret.
 */
public final class Strangers implements AutoCloseable {
  private final Socket silent;

  private Strangers(Socket silent) {
    this.silent = silent;
  }

  /**
   * Knocks on {@code port} (retrying until it listens) in the three ways; the silent one stays
   * connected until {@link #close()}.
   */
  public static Strangers knock(int port) throws Exception {
    Socket silent = connectWhenListening(port);
    try (Socket garbage = connectWhenListening(port)) {
      byte[] bytes = new byte[1024];
      new Random(1).nextBytes(bytes);
      OutputStream out = garbage.getOutputStream();
      out.write(bytes);
      out.flush();
    }
    try (SocketChannel impostor =
        SocketChannel.open(new java.net.InetSocketAddress("127.0.0.1", port))) {
      assertThatThrownBy(() ->
              Handshake.connect(
                  impostor,
                  JobKey.generate("a stranger"),
                  new Handshake.Claims(Handshake.TO_MASTER, 1, 2, 1),
                  TimeUnit.SECONDS.toNanos(5),
                  () -> false))
          .isInstanceOf(Handshake.Refused.class)
          .hasMessageContaining("did not accept this rank's proof");
    }
    return new Strangers(silent);
  }

  /** Waits until {@code log} has a line for each of the three strangers. */
  public static void awaitRefusals(List<String> log) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (System.nanoTime() < deadline && !refusedAll(log)) {
      Thread.sleep(20);
    }
    assertThat(log)
        .anyMatch(l ->
            l.contains("refused a connection from /127.0.0.1")
                && l.contains("sent no valid answer"))
        .anyMatch(l -> l.contains("does not speak cria's protocol"))
        .anyMatch(l -> l.contains("does not prove this job's secret"));
  }

  private static boolean refusedAll(List<String> log) {
    return log.stream().anyMatch(l -> l.contains("sent no valid answer"))
        && log.stream().anyMatch(l -> l.contains("does not speak cria's protocol"))
        && log.stream().anyMatch(l -> l.contains("does not prove this job's secret"));
  }

  static Socket connectWhenListening(int port) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      try {
        return new Socket("127.0.0.1", port);
      } catch (IOException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(20);
      }
    }
  }

  @Override
  public void close() throws IOException {
    silent.close();
  }
}
