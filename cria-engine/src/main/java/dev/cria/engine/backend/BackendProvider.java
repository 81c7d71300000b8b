package dev.cria.engine.backend;

/**
 * The service a backend module registers in {@code
 * META-INF/services/dev.cria.engine.backend.BackendProvider}, so that {@link Backends} finds it at
 * run time.
 */
public interface BackendProvider {
  /** The name users choose it by ({@code --backend NAME}). */
  String name();

  /** Higher is preferred when the backend is chosen automatically. */
  int priority();

  /** Whether it can run here (a GPU backend without a driver cannot); {@code cpu} always can. */
  boolean available();

  /** A sentence on why it is not available; empty when it is. */
  default String unavailableReason() {
    return "";
  }

  /** Starts the backend with {@code threads} compute threads (at least 1). */
  Backend open(int threads);
}
