package dev.cria.board;

import com.sun.net.httpserver.BasicAuthenticator;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongConsumer;

/**
 * HTTP Basic authentication for every request: the user and password compared in constant time
 * (hashes of both, compared with {@link MessageDigest#isEqual}), and each failure answered more
 * slowly than the one before (50 ms doubling to 2 s, back to nothing after a success), so guessing
 * is slow. The password is never logged.
 */
final class PasswordCheck extends BasicAuthenticator {
  private final byte[] user;
  private final byte[] password;
  private final AtomicInteger failures = new AtomicInteger();
  private final LongConsumer pause;

  PasswordCheck(String realm, String user, String password) {
    this(realm, user, password, PasswordCheck::sleep);
  }

  /** As above, pausing through {@code pause} (milliseconds): tests record the pauses. */
  PasswordCheck(String realm, String user, String password, LongConsumer pause) {
    super(realm, StandardCharsets.UTF_8);
    this.user = sha256(user);
    this.password = sha256(password);
    this.pause = pause;
  }

  /** The pause after the {@code n}-th failure in a row: 50 ms, doubling, at most 2 s. */
  static long pauseAfter(int n) {
    return Math.min(2000, 50L << Math.min(6, n - 1));
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public boolean checkCredentials(String givenUser, String givenPassword) {
    boolean userOk = MessageDigest.isEqual(user, sha256(givenUser));
    boolean passwordOk = MessageDigest.isEqual(password, sha256(givenPassword));
    if (userOk && passwordOk) {
      failures.set(0);
      return true;
    }
    pause.accept(pauseAfter(failures.incrementAndGet()));
    return false;
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256")
          .digest((s == null ? "" : s).getBytes(StandardCharsets.UTF_8));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
