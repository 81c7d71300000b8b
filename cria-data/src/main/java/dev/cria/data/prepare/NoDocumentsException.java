package dev.cria.data.prepare;

/**
 * The inputs hold no document to prepare (an empty file, or no line with the JSON key asked for):
 * refused rather than written as a dataset of zero documents.
 */
public final class NoDocumentsException extends RuntimeException {
  public NoDocumentsException(String message) {
    super(message);
  }
}
