package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import java.time.Duration;

/**
 * How long the operation in progress may wait for a peer: the group's usual timeout, or for a
 * patient barrier ({@link Collective#barrier(Duration)}) its patience, restored afterwards.
 */
final class OperationTimeout {
  private final Duration usual;
  private Duration now;

  OperationTimeout(Duration usual) {
    this.usual = usual;
    this.now = usual;
  }

  /** The timeout of the operation in progress. */
  Duration now() {
    return now;
  }

  /** Runs {@code operation} with {@code patience} as its timeout. */
  void patiently(Duration patience, Runnable operation) {
    now = patience;
    try {
      operation.run();
    } finally {
      now = usual;
    }
  }
}
