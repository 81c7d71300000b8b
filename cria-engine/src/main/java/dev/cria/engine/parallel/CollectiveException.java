package dev.cria.engine.parallel;

/**
 * A collective failed: a peer was lost, timed out or broke the protocol; the message says which.
 */
public class CollectiveException extends RuntimeException {
  public CollectiveException(String message) {
    super(message);
  }

  public CollectiveException(String message, Throwable cause) {
    super(message, cause);
  }
}
