package dev.cria.train.distributed;

import java.io.IOException;
import java.net.ServerSocket;
import java.util.Map;

/** What a launcher on this machine gives each rank it starts: its place and the job's key. */
public final class LocalRanks {
  private LocalRanks() {}

  /** A free port on this machine for the rendezvous. */
  public static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
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
