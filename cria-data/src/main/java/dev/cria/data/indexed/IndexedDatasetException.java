package dev.cria.data.indexed;

/** An indexed dataset is missing, malformed or inconsistent; the message names the file. */
public final class IndexedDatasetException extends RuntimeException {
  public IndexedDatasetException(String message) {
    super(message);
  }
}
