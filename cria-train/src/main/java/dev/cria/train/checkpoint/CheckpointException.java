package dev.cria.train.checkpoint;

/** A checkpoint is missing, damaged or does not fit the run; the message names the file. */
public final class CheckpointException extends RuntimeException {
  public CheckpointException(String message) {
    super(message);
  }

  public CheckpointException(String message, Throwable cause) {
    super(message, cause);
  }
}
