package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The first bytes between two ranks, over a loopback connection: a rank of the job is accepted with
 * its claims, and each way a stranger can fail is refused saying how.
 */
class HandshakeTest {
  private static final long SECOND = 1_000_000_000L;
  private static final JobKey KEY =
      JobKey.of("0123456789abcdef".getBytes(StandardCharsets.UTF_8), "job");
  private static final JobKey OTHER =
      JobKey.of("fedcba9876543210".getBytes(StandardCharsets.UTF_8), "job");
  private static final BooleanSupplier GO_ON = () -> false;

  ServerSocketChannel server;
  SocketChannel client;
  SocketChannel accepted;

  @BeforeEach
  void connect() throws IOException {
    server =
        ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    client = SocketChannel.open(server.getLocalAddress());
    accepted = server.accept();
  }

  @AfterEach
  void close() throws IOException {
    client.close();
    accepted.close();
    server.close();
  }

  /** Accepts on {@code accepted}; a refused connection is closed, as the rendezvous drops it. */
  private CompletableFuture<Handshake.Claims> acceptInBackground(JobKey key, long timeout) {
    SocketChannel channel = accepted;
    return CompletableFuture.supplyAsync(() -> {
      try {
        return Handshake.accept(channel, key, timeout, GO_ON);
      } catch (IOException | Handshake.Refused e) {
        try {
          channel.close();
        } catch (IOException ignored) {
          // closed already
        }
        throw new RuntimeException(e);
      }
    });
  }

  private static Throwable cause(CompletableFuture<?> f) {
    try {
      f.get(30, TimeUnit.SECONDS);
      throw new AssertionError("accepted");
    } catch (java.util.concurrent.ExecutionException e) {
      return e.getCause().getCause();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void aRankOfTheJobIsAcceptedWithItsClaims() throws Exception {
    CompletableFuture<Handshake.Claims> a = acceptInBackground(KEY, 10 * SECOND);
    Handshake.Claims claims = new Handshake.Claims(Handshake.TO_RING, 3, 4, 40123);
    Handshake.connect(client, KEY, claims, 10 * SECOND, GO_ON);
    assertThat(a.get(30, TimeUnit.SECONDS)).isEqualTo(claims);
    assertThat(Handshake.MAGIC).isEqualTo(0x43524941);
    assertThat(Handshake.VERSION).isEqualTo(2);
  }

  @Test
  void aRankOfAnotherJobIsRefusedOnBothSides() throws Exception {
    CompletableFuture<Handshake.Claims> a = acceptInBackground(KEY, 10 * SECOND);
    assertThatThrownBy(() ->
            Handshake.connect(
                client,
                OTHER,
                new Handshake.Claims(Handshake.TO_MASTER, 1, 2, 0),
                10 * SECOND,
                GO_ON))
        .isInstanceOf(Handshake.Refused.class)
        .hasMessage(
            "it did not accept this rank's proof of the job secret (another job on this port, or"
                + " a different CRIA_JOB_SECRET or CRIA_JOB_ID)");
    assertThat(cause(a))
        .isInstanceOf(Handshake.Refused.class)
        .hasMessage("its answer does not prove this job's secret (another job, or a stranger)");
  }

  @Test
  void anAcceptorWithoutTheSecretIsNotBelieved() throws Exception {
    CompletableFuture<Handshake.Claims> a = acceptInBackground(OTHER, 10 * SECOND);
    assertThatThrownBy(() ->
            Handshake.connect(
                client, KEY, new Handshake.Claims(Handshake.TO_RAIL, 1, 2, 0), 10 * SECOND, GO_ON))
        .isInstanceOf(Handshake.Refused.class);
    // the acceptor refuses the answer (made with another secret) and sends no proof
    assertThat(cause(a)).isInstanceOf(Handshake.Refused.class);
  }

  @Test
  void anImpostorAcceptorsProofIsRefused() throws Exception {
    CompletableFuture<Void> impostor =
        CompletableFuture.runAsync(() -> {
          try {
            ByteBuffer challenge = ByteBuffer.allocate(40).putInt(Handshake.MAGIC).putInt(2);
            challenge.put(new byte[32]).flip();
            Handshake.write(accepted, challenge);
            Handshake.read(accepted, 4 * 5 + 64, System.nanoTime() + 10 * SECOND, GO_ON);
            Handshake.write(accepted, ByteBuffer.wrap(new byte[32]));
          } catch (IOException e) {
            throw new RuntimeException(e);
          }
        });
    assertThatThrownBy(() ->
            Handshake.connect(
                client, KEY, new Handshake.Claims(Handshake.TO_RING, 1, 2, 0), 10 * SECOND, GO_ON))
        .isInstanceOf(Handshake.Refused.class)
        .hasMessage("its answer does not prove this job's secret: it is not a rank of this job");
    impostor.get(30, TimeUnit.SECONDS);
  }

  @Test
  void aPeerThatSpeaksAnotherProtocolOrVersionIsRefused() throws Exception {
    Handshake.write(accepted, ByteBuffer.allocate(40).putInt(0x47455420).rewind()); // "GET "
    assertThatThrownBy(() ->
            Handshake.connect(client, KEY, new Handshake.Claims(1, 1, 2, 0), 10 * SECOND, GO_ON))
        .isInstanceOf(Handshake.Refused.class)
        .hasMessage("it does not speak cria's protocol");

    SocketChannel second = SocketChannel.open(server.getLocalAddress());
    try (SocketChannel acceptedSecond = server.accept()) {
      Handshake.write(
          acceptedSecond, ByteBuffer.allocate(40).putInt(Handshake.MAGIC).putInt(3).rewind());
      assertThatThrownBy(() ->
              Handshake.connect(second, KEY, new Handshake.Claims(1, 1, 2, 0), 10 * SECOND, GO_ON))
          .isInstanceOf(Handshake.Refused.class)
          .hasMessage("it speaks version 3 of cria's protocol, this rank 2");
    } finally {
      second.close();
    }
  }

  @Test
  void aConnectorThatSpeaksAnotherProtocolOrStaysSilentIsDropped() throws Exception {
    CompletableFuture<Handshake.Claims> a = acceptInBackground(KEY, 10 * SECOND);
    Handshake.read(client, 40, System.nanoTime() + 10 * SECOND, GO_ON);
    Handshake.write(client, ByteBuffer.allocate(4 * 5 + 64).putInt(0x47455420).rewind());
    assertThat(cause(a))
        .isInstanceOf(Handshake.Refused.class)
        .hasMessage("it does not speak cria's protocol");

    client.close();
    client = SocketChannel.open(server.getLocalAddress());
    accepted = server.accept();
    CompletableFuture<Handshake.Claims> silent = acceptInBackground(KEY, SECOND / 5);
    assertThat(cause(silent))
        .isInstanceOf(Handshake.Refused.class)
        .hasMessage("it sent no valid answer to the challenge in time");
  }

  @Test
  void aSilentOrClosedAcceptorIsNoCriaRank() throws Exception {
    assertThatThrownBy(() ->
            Handshake.connect(client, KEY, new Handshake.Claims(1, 1, 2, 0), SECOND / 5, GO_ON))
        .isInstanceOf(Handshake.Refused.class)
        .hasMessage("it sent no challenge in time (is it a cria rank?)");
    accepted.close();
    assertThat(Handshake.read(client, 8, System.nanoTime() + 10 * SECOND, GO_ON)).isNull();
  }

  @Test
  void aReadReturnsWhatArrivesInPiecesAndAStopEndsItAtOnce() throws Exception {
    CompletableFuture<Void> pieces =
        CompletableFuture.runAsync(() -> {
          try {
            Handshake.write(accepted, ByteBuffer.wrap(new byte[] {1, 2}));
            Thread.sleep(50);
            Handshake.write(accepted, ByteBuffer.wrap(new byte[] {3}));
          } catch (IOException | InterruptedException e) {
            throw new RuntimeException(e);
          }
        });
    ByteBuffer b = Handshake.read(client, 3, System.nanoTime() + 10 * SECOND, GO_ON);
    pieces.get(30, TimeUnit.SECONDS);
    assertThat(b.remaining()).isEqualTo(3);
    assertThat(new byte[] {b.get(), b.get(), b.get()}).containsExactly(1, 2, 3);
    assertThat(Handshake.read(client, 1, System.nanoTime() - 1, GO_ON)).isNull();
    assertThatThrownBy(() -> Handshake.read(client, 1, System.nanoTime() + 10 * SECOND, () -> true))
        .isInstanceOf(JoinStopped.class);
    Thread.currentThread().interrupt();
    try {
      assertThatThrownBy(() -> Handshake.read(client, 1, System.nanoTime() + 10 * SECOND, GO_ON))
          .isInstanceOf(JoinStopped.class);
    } finally {
      Thread.interrupted();
    }
  }
}
