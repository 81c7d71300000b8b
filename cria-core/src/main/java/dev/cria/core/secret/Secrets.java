package dev.cria.core.secret;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;

/**
 * Secrets (passwords, keys) as cria takes them: from a file or an environment variable, never from
 * the command line, where other users of the machine and the shell history would see them; made up
 * when neither is given.
 */
public final class Secrets {
  private static final String ALPHABET =
      "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

  private Secrets() {}

  /**
   * A secret's value and where it came from.
   *
   * @param generated made up here (no file, no variable), so the caller shows it once
   */
  public record Secret(String value, boolean generated) {
    @Override
    public String toString() {
      return "Secret[hidden]";
    }
  }

  /**
   * The first line of {@code file} when given, else the variable {@code env} when set and not
   * empty, else 20 random letters and digits.
   *
   * @throws IllegalArgumentException when the file cannot be read or is empty, naming it
   */
  public static Secret read(Path file, String env) {
    if (file != null) {
      try {
        String first =
            Files.readString(file, StandardCharsets.UTF_8).lines().findFirst().orElse("").strip();
        if (first.isEmpty()) {
          throw new IllegalArgumentException(file + ": the secret file is empty");
        }
        return new Secret(first, false);
      } catch (java.nio.file.NoSuchFileException e) {
        throw new IllegalArgumentException(file + ": no such secret file");
      } catch (IOException e) {
        throw new IllegalArgumentException(
            file + ": cannot read the secret file: " + e.getMessage());
      }
    }
    String fromEnv = System.getenv(env);
    if (fromEnv != null && !fromEnv.isEmpty()) {
      return new Secret(fromEnv, false);
    }
    SecureRandom random = new SecureRandom();
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 20; i++) {
      sb.append(ALPHABET.charAt(random.nextInt(ALPHABET.length())));
    }
    return new Secret(sb.toString(), true);
  }
}
