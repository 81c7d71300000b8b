package dev.cria.train.distributed;

import dev.cria.engine.parallel.CollectiveException;

/** A stop (SIGINT or SIGTERM) arrived while the rank was joining its group: it gave up at once. */
public final class JoinStopped extends CollectiveException {
  public JoinStopped() {
    super("stopped while joining the group (SIGINT or SIGTERM)");
  }
}
