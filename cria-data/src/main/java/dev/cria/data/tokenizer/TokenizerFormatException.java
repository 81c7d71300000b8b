package dev.cria.data.tokenizer;

/**
 * A tokenizer file is malformed or uses a feature cria does not implement; the message says which.
 */
public final class TokenizerFormatException extends RuntimeException {
  public TokenizerFormatException(String message) {
    super(message);
  }
}
