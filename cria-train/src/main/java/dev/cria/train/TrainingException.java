package dev.cria.train;

/** Training cannot go on (the loss diverged); the message says at which step and what to try. */
public final class TrainingException extends RuntimeException {
  public TrainingException(String message) {
    super(message);
  }
}
