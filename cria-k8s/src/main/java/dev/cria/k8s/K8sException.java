package dev.cria.k8s;

/** A cluster operation that failed: one line, naming the object and what the API server said. */
public final class K8sException extends RuntimeException {
  public K8sException(String message) {
    super(message);
  }

  public K8sException(String message, Throwable cause) {
    super(message, cause);
  }
}
