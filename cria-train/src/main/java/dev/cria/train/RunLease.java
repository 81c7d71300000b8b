package dev.cria.train;

import dev.cria.core.io.AtomicFiles;
import dev.cria.train.config.ConfigException;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * One job per run directory: an exclusive lock on {@code <run>/.cria-lock} (held while the job
 * lives; the OS releases it when the process dies) and a lease file {@code <run>/lease.json} with
 * the holder's host, pid, start and a heartbeat every 10 s, for file systems whose locks do not
 * reach other hosts. A second job is refused at once, naming the holder; a lease whose holder is
 * gone (its pid dead on this host, or no heartbeat for 60 s) is taken over with a warning.
 */
public final class RunLease implements AutoCloseable {
  public static final String LOCK = ".cria-lock";
  public static final String FILE = "lease.json";

  /** How often the lease is renewed. */
  static final Duration HEARTBEAT = Duration.ofSeconds(10);

  /** A lease not renewed for this long belongs to a job that is gone. */
  static final Duration STALE = Duration.ofSeconds(60);

  private static final JsonMapper JSON = JsonMapper.builder().build();

  private final Path runDir;
  private final FileChannel channel;
  private final FileLock lock;
  private final ScheduledExecutorService beat;
  private final ObjectNode lease;

  private final boolean createdDirectory;

  private RunLease(
      Path runDir, boolean createdDirectory, FileChannel channel, FileLock lock, ObjectNode lease) {
    this.runDir = runDir;
    this.createdDirectory = createdDirectory;
    this.channel = channel;
    this.lock = lock;
    this.lease = lease;
    this.beat =
        Executors.newSingleThreadScheduledExecutor(r -> {
          Thread t = new Thread(r, "cria-run-lease");
          t.setDaemon(true);
          return t;
        });
    long ms = HEARTBEAT.toMillis();
    beat.scheduleAtFixedRate(this::renew, ms, ms, TimeUnit.MILLISECONDS);
  }

  /**
   * Takes the run directory {@code runDir} for this process (creating the directory), or refuses
   * with a {@link ConfigException} naming the job that holds it; {@code warn} hears of a takeover.
   */
  public static RunLease acquire(Path runDir, Consumer<String> warn) throws IOException {
    if (Files.exists(runDir) && !Files.isDirectory(runDir)) {
      throw new ConfigException("run_dir " + runDir + " is a file, not a directory");
    }
    boolean created = !Files.exists(runDir);
    Files.createDirectories(runDir);
    FileChannel ch =
        FileChannel.open(runDir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = ch.tryLock();
    } catch (OverlappingFileLockException e) {
      lock = null; // this JVM holds it already
    }
    JsonNode existing = read(runDir);
    if (lock == null) {
      ch.close();
      throw new ConfigException(inUse(runDir, existing));
    }
    if (existing != null) {
      if (alive(existing)) {
        lock.release();
        ch.close();
        throw new ConfigException(inUse(runDir, existing));
      }
      warn.accept(
          "took over the lease of "
              + runDir
              + " from "
              + holder(existing)
              + ", which is gone (no process, or no heartbeat for "
              + STALE.toSeconds()
              + " s)");
    }
    ObjectNode lease = JSON.createObjectNode();
    lease.put("host", host());
    lease.put("pid", ProcessHandle.current().pid());
    lease.put("started_at", Instant.now().toString());
    lease.put("updated_at", Instant.now().toString());
    AtomicFiles.writeString(runDir.resolve(FILE), lease.toString() + "\n");
    return new RunLease(runDir, created, ch, lock, lease);
  }

  private void renew() {
    try {
      lease.put("updated_at", Instant.now().toString());
      AtomicFiles.replaceString(runDir.resolve(FILE), lease.toString() + "\n");
    } catch (IOException | RuntimeException e) {
      // the next beat tries again
    }
  }

  /** Gives the run directory back: the lease file is removed, the lock released. */
  @Override
  public void close() throws IOException {
    beat.shutdownNow();
    try {
      Files.deleteIfExists(runDir.resolve(FILE));
    } finally {
      lock.release();
      channel.close();
    }
    if (createdDirectory) {
      // a job that failed before writing anything leaves no empty run directory behind
      try (var entries = Files.list(runDir)) {
        if (entries.allMatch(p -> p.getFileName().toString().equals(LOCK))) {
          Files.deleteIfExists(runDir.resolve(LOCK));
          Files.deleteIfExists(runDir);
        }
      }
    }
  }

  private static JsonNode read(Path runDir) throws IOException {
    try {
      return JSON.readTree(Files.readString(runDir.resolve(FILE)));
    } catch (NoSuchFileException e) {
      return null;
    } catch (tools.jackson.core.JacksonException e) {
      return null; // torn or foreign: nobody's lease
    }
  }

  /** Whether the lease's holder still runs: its pid alive here, or a fresh heartbeat elsewhere. */
  private static boolean alive(JsonNode lease) {
    Instant updated;
    try {
      updated = Instant.parse(lease.path("updated_at").asString(""));
    } catch (RuntimeException e) {
      return false;
    }
    if (lease.path("host").asString("").equals(host())) {
      long pid = lease.path("pid").asLong(-1);
      return pid != ProcessHandle.current().pid()
          && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)
          && Duration.between(updated, Instant.now()).compareTo(STALE) < 0;
    }
    return Duration.between(updated, Instant.now()).compareTo(STALE) < 0;
  }

  private static String inUse(Path runDir, JsonNode lease) {
    return "run_dir "
        + runDir
        + " is in use by another job"
        + (lease == null ? "" : " (" + holder(lease) + ")")
        + "; stop it first, wait for it, or pick another --run-dir";
  }

  private static String holder(JsonNode lease) {
    String since = lease.path("started_at").asString("?");
    String age;
    try {
      age =
          String.format(
              Locale.ROOT,
              "%d s ago",
              Duration.between(Instant.parse(lease.path("updated_at").asString()), Instant.now())
                  .toSeconds());
    } catch (RuntimeException e) {
      age = "?";
    }
    return "host "
        + lease.path("host").asString("?")
        + ", pid "
        + lease.path("pid").asLong(-1)
        + ", since "
        + since
        + ", last heartbeat "
        + age;
  }

  private static String host() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "localhost";
    }
  }
}
