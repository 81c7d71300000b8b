package dev.cria.train.config;

/** A configuration mistake, with a message that names the file or flag and the field. */
public final class ConfigException extends RuntimeException {
  public ConfigException(String message) {
    super(message);
  }

  public ConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
