package dev.cria.board;

import com.sun.net.httpserver.BasicAuthenticator;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.atomic.AtomicInteger;

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

  PasswordCheck(String realm, String user, String password) {
    super(realm, StandardCharsets.UTF_8);
    this.user = sha256(user);
    this.password = sha256(password);
  }

  @Override
  public boolean checkCredentials(String givenUser, String givenPassword) {
    boolean userOk = MessageDigest.isEqual(user, sha256(givenUser));
    boolean passwordOk = MessageDigest.isEqual(password, sha256(givenPassword));
    if (userOk && passwordOk) {
      failures.set(0);
      return true;
    }
    int n = failures.incrementAndGet();
    try {
      Thread.sleep(Math.min(2000, 50L << Math.min(6, n - 1)));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
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
