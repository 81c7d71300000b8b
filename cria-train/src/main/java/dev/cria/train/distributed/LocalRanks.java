package dev.cria.train.distributed;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/** What a launcher on this machine gives each rank it starts: its place and the job's key. */
public final class LocalRanks {
  private LocalRanks() {}

  private static final Path EPHEMERAL = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
  private static final int LOWEST = 20_000; // below: ports services are configured to use

  /**
   * A free port on this machine for the rendezvous, chosen below the kernel's ephemeral range
   * ({@code ip_local_port_range}) where it can: a port the kernel handed out for {@code bind(0)}
   * could be handed out again, to another rank's listener or an outgoing connection, before rank 0
   * binds it (the rank then fails with "Address already in use"). Outside that range only a process
   * asking for this very number can take it.
   */
  public static int freePort() throws IOException {
    int below = ephemeralLow();
    ThreadLocalRandom random = ThreadLocalRandom.current();
    for (int i = 0; below - LOWEST >= 1000 && i < 200; i++) {
      int port = random.nextInt(LOWEST, below);
      if (bindable(port)) {
        return port;
      }
    }
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static boolean bindable(int port) {
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(true); // as rank 0 binds it: a connection in TIME_WAIT does not hold it
      s.bind(new InetSocketAddress(port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * The first port of the kernel's ephemeral range, or Linux's default 32768 when unreadable. Read
   * line by line: {@code Files.readString} trusts the size procfs reports and reads one byte.
   */
  static int ephemeralLow() {
    try {
      String[] range = Files.readAllLines(EPHEMERAL).getFirst().trim().split("\\s+");
      return Integer.parseInt(range[0]);
    } catch (IOException | RuntimeException e) {
      return 32_768;
    }
  }

  /**
   * Sets {@code env} (a child process's) for rank {@code rank} of {@code world} on this machine,
   * rank 0 listening on loopback at {@code port}, proving {@code key}: in the environment only,
   * never on a command line.
   */
  public static void environment(
      Map<String, String> env, int rank, int world, int port, JobKey key) {
    env.put("CRIA_RANK", Integer.toString(rank));
    env.put("CRIA_WORLD_SIZE", Integer.toString(world));
    env.put("CRIA_LOCAL_RANK", Integer.toString(rank));
    env.put("CRIA_LOCAL_WORLD_SIZE", Integer.toString(world)); // every rank is on this machine
    env.put("CRIA_MASTER_ADDR", "127.0.0.1");
    env.put("CRIA_MASTER_PORT", Integer.toString(port));
    env.remove(JobKey.SECRET_FILE);
    env.put(JobKey.SECRET, key.secretForChildEnvironment());
    env.put(JobKey.JOB_ID, key.jobId());
  }
}
