package dev.cria.train.distributed;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * What the ranks of one job share and strangers do not: a secret and the job's identity. A peer
 * proves it knows both by answering a random challenge with an HMAC-SHA256 over the challenge, its
 * claims and the job identity ({@link Handshake}); two jobs with different secrets or identities
 * never join each other. The secret never leaves the process: not in logs, not in {@link
 * #toString()}.
 *
 * <p>Read from {@code CRIA_JOB_SECRET} or the file {@code CRIA_JOB_SECRET_FILE} (a Kubernetes
 * Secret mounted in the pods), and {@code CRIA_JOB_ID}; {@code cria train --nproc} generates both
 * for its workers.
 */
public final class JobKey {
  public static final String SECRET = "CRIA_JOB_SECRET";
  public static final String SECRET_FILE = "CRIA_JOB_SECRET_FILE";
  public static final String JOB_ID = "CRIA_JOB_ID";

  private static final SecureRandom RANDOM = new SecureRandom();

  private final byte[] secret;
  private final String jobId;

  private JobKey(byte[] secret, String jobId) {
    if (secret.length < 16) {
      throw new IllegalArgumentException(
          "the job secret is " + secret.length + " bytes; it needs at least 16");
    }
    this.secret = secret.clone();
    this.jobId = jobId;
  }

  /** A key from known bytes (at least 16) and a job identity. */
  public static JobKey of(byte[] secret, String jobId) {
    return new JobKey(secret, jobId);
  }

  /** A fresh random secret (32 bytes) for a new job. */
  public static JobKey generate(String jobId) {
    byte[] secret = new byte[32];
    RANDOM.nextBytes(secret);
    return new JobKey(secret, jobId);
  }

  /**
   * The key of {@code env}: the secret from {@code CRIA_JOB_SECRET} or the file {@code
   * CRIA_JOB_SECRET_FILE} (trailing whitespace ignored), the identity from {@code CRIA_JOB_ID} else
   * {@code defaultJobId}. Empty when neither secret variable is set.
   *
   * @throws IllegalArgumentException naming the variable or the file when one is set but unusable
   */
  public static Optional<JobKey> fromEnvironment(Map<String, String> env, String defaultJobId) {
    String id = env.getOrDefault(JOB_ID, defaultJobId);
    String inline = env.get(SECRET);
    String file = env.get(SECRET_FILE);
    if (inline != null && file != null) {
      throw new IllegalArgumentException(
          "both " + SECRET + " and " + SECRET_FILE + " are set: set one");
    }
    if (inline != null) {
      byte[] bytes = inline.strip().getBytes(StandardCharsets.UTF_8);
      if (bytes.length < 16) {
        throw new IllegalArgumentException(
            SECRET + " holds " + bytes.length + " bytes; a job secret needs at least 16");
      }
      return Optional.of(new JobKey(bytes, id));
    }
    if (file != null) {
      Path path = Path.of(file);
      byte[] bytes;
      try {
        bytes =
            new String(Files.readAllBytes(path), StandardCharsets.UTF_8)
                .strip()
                .getBytes(StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new IllegalArgumentException(
            SECRET_FILE + "=" + file + ": cannot read the job secret (" + e.getMessage() + ")", e);
      }
      if (bytes.length < 16) {
        throw new IllegalArgumentException(
            SECRET_FILE
                + "="
                + file
                + " holds "
                + bytes.length
                + " bytes; a job secret needs at least 16");
      }
      return Optional.of(new JobKey(bytes, id));
    }
    return Optional.empty();
  }

  /** The job's identity (not secret: it appears in messages). */
  public String jobId() {
    return jobId;
  }

  /** The secret as text for a child process's {@code CRIA_JOB_SECRET} (never a command line). */
  public String secretForChildEnvironment() {
    return HexFormat.of().formatHex(secret);
  }

  /** Random bytes for a challenge. */
  static byte[] nonce() {
    byte[] n = new byte[32];
    RANDOM.nextBytes(n);
    return n;
  }

  /**
   * HMAC-SHA256 with the secret over {@code label}, the job identity and {@code parts}, each
   * prefixed with its length so that no two sequences of parts give the same input.
   */
  byte[] mac(String label, byte[]... parts) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret, "HmacSHA256"));
      update(mac, label.getBytes(StandardCharsets.UTF_8));
      update(mac, jobId.getBytes(StandardCharsets.UTF_8));
      for (byte[] p : parts) {
        update(mac, p);
      }
      return mac.doFinal();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
    }
  }

  /** Whether {@code mac} is {@link #mac} of the same input, in constant time. */
  boolean verify(byte[] mac, String label, byte[]... parts) {
    return MessageDigest.isEqual(mac, mac(label, parts));
  }

  private static void update(Mac mac, byte[] bytes) {
    mac.update(ByteBuffer.allocate(4).putInt(bytes.length).flip());
    mac.update(bytes);
  }

  static byte[] ints(int... values) {
    ByteBuffer b = ByteBuffer.allocate(4 * values.length);
    for (int v : values) {
      b.putInt(v);
    }
    return b.array();
  }

  @Override
  public String toString() {
    return "JobKey[job " + jobId + ", secret not shown]";
  }
}
