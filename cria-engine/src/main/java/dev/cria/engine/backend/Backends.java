package dev.cria.engine.backend;

import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/** Finds the backends on the class path and opens one by name, or the best available. */
public final class Backends {
  /** The name that picks the available backend of the highest priority. */
  public static final String AUTO = "auto";

  private Backends() {}

  /** Every backend provider on the class path, the preferred first. */
  public static List<BackendProvider> providers() {
    return ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader()).stream()
        .map(ServiceLoader.Provider::get)
        .sorted(
            Comparator.comparingInt(BackendProvider::priority)
                .reversed()
                .thenComparing(BackendProvider::name))
        .toList();
  }

  /** The names {@link #open} accepts, {@code auto} first. */
  public static List<String> names() {
    return java.util.stream.Stream.concat(
            java.util.stream.Stream.of(AUTO), providers().stream().map(BackendProvider::name))
        .toList();
  }

  /**
   * Opens the backend called {@code name} ({@code auto} or null: the available one of the highest
   * priority) with {@code threads} compute threads (0 or less: one per core).
   *
   * @throws IllegalArgumentException for an unknown name (naming the known ones) or a backend that
   *     cannot run here (saying why)
   */
  public static Backend open(String name, int threads) {
    int n = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    List<BackendProvider> all = providers();
    if (name == null || name.equals(AUTO)) {
      return all.stream()
          .filter(BackendProvider::available)
          .findFirst()
          .orElseThrow(
              () -> new IllegalArgumentException("no backend can run here: " + reasons(all)))
          .open(n);
    }
    for (BackendProvider p : all) {
      if (p.name().equals(name)) {
        if (!p.available()) {
          throw new IllegalArgumentException(
              "backend " + name + " cannot run here: " + p.unavailableReason());
        }
        return p.open(n);
      }
    }
    throw new IllegalArgumentException(
        "no backend named '" + name + "'; the backends are " + String.join(", ", names()));
  }

  private static String reasons(List<BackendProvider> all) {
    return all.isEmpty()
        ? "none is on the class path"
        : all.stream()
            .map(p -> p.name() + ": " + p.unavailableReason())
            .collect(Collectors.joining("; "));
  }
}
