package dev.cria.train.distributed;

import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.function.BooleanSupplier;

/**
 * The first bytes on every connection between ranks: the accepting side sends a random challenge;
 * the connecting side answers with its claims (why it connects, its rank, the world size, its ring
 * port) and an HMAC of the challenge, its own nonce, those claims and the job identity ({@link
 * JobKey}); the accepting side checks it and proves the secret in return. A process that does not
 * know the secret learns nothing but the challenge, and is dropped; a peer that answers an impostor
 * is told so.
 *
 * <pre>
 * acceptor  -> MAGIC VERSION nonceA[32]
 * connector -> MAGIC purpose rank world port nonceB[32] HMAC("cria join", nonceA nonceB claims)
 * acceptor  -> HMAC("cria accept", nonceA nonceB claims)
 * </pre>
 */
final class Handshake {
  static final int MAGIC = 0x43524941; // "CRIA"
  static final int VERSION = 2;

  /** A connection to rank 0's rendezvous. */
  static final int TO_MASTER = 1;

  /** A connection of the ring, from rank r-1 to rank r. */
  static final int TO_RING = 2;

  /** A connection of a rail (hierarchical collectives), from host h-1's rank to host h's. */
  static final int TO_RAIL = 3;

  private static final int CHALLENGE = 4 + 4 + 32;
  private static final int ANSWER = 4 * 5 + 32 + 32;

  /** What a connecting rank says of itself, proven with the secret. */
  record Claims(int purpose, int rank, int world, int port) {}

  /** A connection the handshake refused; the message says why (never the secret). */
  static final class Refused extends Exception {
    Refused(String message) {
      super(message);
    }
  }

  private Handshake() {}

  /**
   * The accepting side: challenges {@code channel} and returns the claims it proved, within {@code
   * timeout}. The channel must be blocking.
   */
  static Claims accept(SocketChannel channel, JobKey key, long timeoutNanos, BooleanSupplier stop)
      throws IOException, Refused {
    long deadline = System.nanoTime() + timeoutNanos;
    byte[] nonceA = JobKey.nonce();
    write(channel, ByteBuffer.allocate(CHALLENGE).putInt(MAGIC).putInt(VERSION).put(nonceA).flip());
    ByteBuffer answer = read(channel, ANSWER, deadline, stop);
    if (answer == null) {
      throw new Refused("it sent no valid answer to the challenge in time");
    }
    if (answer.getInt() != MAGIC) {
      throw new Refused("it does not speak cria's protocol");
    }
    Claims claims = new Claims(answer.getInt(), answer.getInt(), answer.getInt(), answer.getInt());
    byte[] nonceB = new byte[32];
    byte[] mac = new byte[32];
    answer.get(nonceB).get(mac);
    if (!key.verify(mac, "cria join", nonceA, nonceB, claims(claims))) {
      throw new Refused("its answer does not prove this job's secret (another job, or a stranger)");
    }
    write(channel, ByteBuffer.wrap(key.mac("cria accept", nonceA, nonceB, claims(claims))));
    return claims;
  }

  /**
   * The connecting side: answers the challenge on {@code channel} with {@code claims} and checks
   * that the other side knows the secret too.
   */
  static void connect(
      SocketChannel channel, JobKey key, Claims claims, long timeoutNanos, BooleanSupplier stop)
      throws IOException, Refused {
    long deadline = System.nanoTime() + timeoutNanos;
    ByteBuffer challenge = read(channel, CHALLENGE, deadline, stop);
    if (challenge == null) {
      throw new Refused("it sent no challenge in time (is it a cria rank?)");
    }
    if (challenge.getInt() != MAGIC) {
      throw new Refused("it does not speak cria's protocol");
    }
    int version = challenge.getInt();
    if (version != VERSION) {
      throw new Refused(
          "it speaks version " + version + " of cria's protocol, this rank " + VERSION);
    }
    byte[] nonceA = new byte[32];
    challenge.get(nonceA);
    byte[] nonceB = JobKey.nonce();
    write(
        channel,
        ByteBuffer.allocate(ANSWER)
            .putInt(MAGIC)
            .putInt(claims.purpose())
            .putInt(claims.rank())
            .putInt(claims.world())
            .putInt(claims.port())
            .put(nonceB)
            .put(key.mac("cria join", nonceA, nonceB, claims(claims)))
            .flip());
    ByteBuffer proof = read(channel, 32, deadline, stop);
    if (proof == null) {
      throw new Refused(
          "it did not accept this rank's proof of the job secret (another job on this port, or"
              + " a different CRIA_JOB_SECRET or CRIA_JOB_ID)");
    }
    if (!key.verify(proof.array(), "cria accept", nonceA, nonceB, claims(claims))) {
      throw new Refused(
          "its answer does not prove this job's secret: it is not a rank of this job");
    }
  }

  private static byte[] claims(Claims c) {
    return JobKey.ints(c.purpose(), c.rank(), c.world(), c.port());
  }

  static void write(SocketChannel channel, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      channel.write(b);
    }
  }

  /**
   * Reads {@code bytes} bytes, or returns null when the other side closes or the deadline passes.
   * Waits in slices of at most 200 ms so that a stop is honoured at once.
   *
   * @throws JoinStopped when {@code stop} says so
   */
  static ByteBuffer read(SocketChannel channel, int bytes, long deadline, BooleanSupplier stop)
      throws IOException {
    ByteBuffer b = ByteBuffer.allocate(bytes);
    // The socket's own stream honours the timeout (a blocking channel's read would not); closing it
    // would close the socket, so it is left open.
    InputStream in = channel.socket().getInputStream();
    while (b.hasRemaining()) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return null;
      }
      if (stop.getAsBoolean() || Thread.currentThread().isInterrupted()) {
        throw new JoinStopped();
      }
      channel.socket().setSoTimeout((int) Math.max(1, Math.min(200, left / 1_000_000)));
      try {
        int n = in.read(b.array(), b.position(), b.remaining());
        if (n < 0) {
          return null;
        }
        b.position(b.position() + n);
      } catch (SocketTimeoutException e) {
        // the next slice
      }
    }
    return b.flip();
  }
}
