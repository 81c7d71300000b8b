package dev.cria.train.distributed;

import java.nio.file.Files;
import java.nio.file.Path;
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
 * @param shmDirectory where shared mappings are made: ranks that see each other's files there share
 *     a host ({@code /dev/shm}, else the temporary directory)
 */
public record JoinSettings(
    CollectiveKind kind,
    Duration joinTimeout,
    Duration timeout,
    Duration handshakeTimeout,
    BooleanSupplier stopped,
    Consumer<String> log,
    Path shmDirectory) {
  public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(5);

  public JoinSettings {
    if (joinTimeout.isNegative() || timeout.isNegative() || handshakeTimeout.isNegative()) {
      throw new IllegalArgumentException("timeouts must not be negative");
    }
  }

  /** Settings with the host's shared-memory directory. */
  public JoinSettings(
      CollectiveKind kind,
      Duration joinTimeout,
      Duration timeout,
      Duration handshakeTimeout,
      BooleanSupplier stopped,
      Consumer<String> log) {
    this(kind, joinTimeout, timeout, handshakeTimeout, stopped, log, defaultShmDirectory());
  }

  /** {@code /dev/shm} when there is one, else the temporary directory. */
  public static Path defaultShmDirectory() {
    Path shm = Path.of("/dev/shm");
    return Files.isDirectory(shm) && Files.isWritable(shm)
        ? shm
        : Path.of(System.getProperty("java.io.tmpdir"));
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
    return new JoinSettings(k, joinTimeout, timeout, handshakeTimeout, stopped, log, shmDirectory);
  }

  public JoinSettings withLog(Consumer<String> l) {
    return new JoinSettings(kind, joinTimeout, timeout, handshakeTimeout, stopped, l, shmDirectory);
  }

  public JoinSettings withStop(BooleanSupplier s) {
    return new JoinSettings(kind, joinTimeout, timeout, handshakeTimeout, s, log, shmDirectory);
  }

  public JoinSettings withHandshakeTimeout(Duration h) {
    return new JoinSettings(kind, joinTimeout, timeout, h, stopped, log, shmDirectory);
  }

  /** These settings with shared mappings made in {@code dir} (tests: one directory per "host"). */
  public JoinSettings withShmDirectory(Path dir) {
    return new JoinSettings(kind, joinTimeout, timeout, handshakeTimeout, stopped, log, dir);
  }
}
