package dev.cria.engine.io;

/** A safetensors file is missing or malformed; the message names it. */
public final class SafetensorsException extends RuntimeException {
  public SafetensorsException(String message) {
    super(message);
  }
}
