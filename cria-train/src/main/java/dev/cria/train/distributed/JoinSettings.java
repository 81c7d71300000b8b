package dev.cria.train.distributed;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * How a rank joins its group.
 *
 * @param kind which collectives to use ({@link CollectiveKind#AUTO} picks)
 * @param joinTimeout how long to wait for every rank to join
 * @param timeout how long an operation may wait for a peer without progress
 * @param handshakeTimeout how long a connection may take to prove the job secret before it is
 *     dropped (a stranger that stays silent costs no more than this, and stalls nobody)
 * @param stopped whether a stop was asked (SIGTERM): the join gives up at once
 * @param log where refused strangers and the chosen transport are reported
 */
public record JoinSettings(
    CollectiveKind kind,
    Duration joinTimeout,
    Duration timeout,
    Duration handshakeTimeout,
    BooleanSupplier stopped,
    Consumer<String> log) {
  public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(5);

  public JoinSettings {
    if (joinTimeout.isNegative() || timeout.isNegative() || handshakeTimeout.isNegative()) {
      throw new IllegalArgumentException("timeouts must not be negative");
    }
  }

  /** Defaults for tests and tools: auto, the given timeouts, nothing stops it, nothing logged. */
  public static JoinSettings of(Duration joinTimeout, Duration timeout) {
    return new JoinSettings(
        CollectiveKind.AUTO,
        joinTimeout,
        timeout,
        DEFAULT_HANDSHAKE_TIMEOUT,
        () -> false,
        line -> {});
  }

  public JoinSettings withKind(CollectiveKind k) {
    return new JoinSettings(k, joinTimeout, timeout, handshakeTimeout, stopped, log);
  }

  public JoinSettings withLog(Consumer<String> l) {
    return new JoinSettings(kind, joinTimeout, timeout, handshakeTimeout, stopped, l);
  }

  public JoinSettings withStop(BooleanSupplier s) {
    return new JoinSettings(kind, joinTimeout, timeout, handshakeTimeout, s, log);
  }

  public JoinSettings withHandshakeTimeout(Duration h) {
    return new JoinSettings(kind, joinTimeout, timeout, h, stopped, log);
  }
}
