package dev.cria.data;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates {@code ../shared} (licensed tokenizers, test vectors) for tests. A fresh clone has no
 * {@code ../shared}: tests that need it are skipped with a message saying so.
 */
public final class SharedData {
  private SharedData() {}

  /** The shared directory, from {@code -Dcria.shared} or {@code ../shared}; may not exist. */
  public static Path root() {
    String configured = System.getProperty("cria.shared");
    if (configured != null) {
      return Path.of(configured).toAbsolutePath().normalize();
    }
    return Path.of("..", "shared").toAbsolutePath().normalize();
  }

  /** {@code ../shared/<relative>}, or skips the calling test when it is absent. */
  public static Path require(String relative) {
    Path p = root().resolve(relative);
    assumeTrue(
        Files.exists(p),
        () -> "skipped: " + p + " is absent (tests that need ../shared run where it is present)");
    return p;
  }
}
