package dev.cria.k8s;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The launcher's wait for its workers (kubeflow/mpi-operator #386, #482: a launcher that starts
 * before its workers can be reached fails its mpirun): every host of the MPI hostfile must resolve
 * and accept a TCP connection on its ssh port before mpirun starts, within a bounded time; when
 * they never come, the message names each missing worker and why.
 */
public final class WorkerWait {
  /**
   * The hostfile the operator mounts in the launcher, when Open MPI's variable does not name one.
   */
  public static final String OPERATOR_HOSTFILE = "/etc/mpi/hostfile";

  private WorkerWait() {}

  /** The hosts of a hostfile in the operator's format ({@code host slots=N}, comments, blanks). */
  public static List<String> hosts(Path hostfile) throws IOException {
    List<String> hosts = new ArrayList<>();
    for (String line : Files.readAllLines(hostfile)) {
      String host = line.replaceAll("#.*", "").strip();
      if (!host.isEmpty()) {
        hosts.add(host.split("\\s+")[0]);
      }
    }
    if (hosts.isEmpty()) {
      throw new IOException(hostfile + ": no hosts in the MPI hostfile");
    }
    return hosts;
  }

  /**
   * The hostfile Open MPI will use: {@code OMPI_MCA_orte_default_hostfile}, else the operator's.
   */
  public static Path hostfile(Map<String, String> env) {
    for (String key : List.of("OMPI_MCA_orte_default_hostfile", "OMPI_MCA_prte_default_hostfile")) {
      if (env.get(key) != null && !env.get(key).isBlank()) {
        return Path.of(env.get(key));
      }
    }
    return Path.of(OPERATOR_HOSTFILE);
  }

  /**
   * Waits until every host accepts a connection on {@code port}; {@code progress} hears what is
   * still missing every few seconds. Throws, naming each missing host and why, after {@code
   * timeout}.
   */
  public static void await(
      List<String> hosts, int port, Duration timeout, Consumer<String> progress) {
    long start = System.nanoTime();
    long deadline = start + timeout.toNanos();
    long nextReport = start;
    Map<String, String> missing = new LinkedHashMap<>();
    hosts.forEach(h -> missing.put(h, "not tried"));
    while (true) {
      for (String host : List.copyOf(missing.keySet())) {
        String why = reach(host, port);
        if (why == null) {
          missing.remove(host);
        } else {
          missing.put(host, why);
        }
      }
      if (missing.isEmpty()) {
        progress.accept(
            "all "
                + hosts.size()
                + " worker(s) reachable after "
                + Duration.ofNanos(System.nanoTime() - start).toSeconds()
                + " s");
        return;
      }
      long now = System.nanoTime();
      if (now > deadline) {
        throw new K8sException(
            missing.size()
                + " of "
                + hosts.size()
                + " worker(s) never became reachable in "
                + timeout.toSeconds()
                + " s: "
                + describe(missing)
                + " (is the worker image's sshd running, and did the pods get scheduled?)");
      }
      if (now >= nextReport) {
        progress.accept(
            "waiting for "
                + missing.size()
                + " of "
                + hosts.size()
                + " worker(s): "
                + describe(missing));
        nextReport = now + Duration.ofSeconds(10).toNanos();
      }
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new K8sException("interrupted while waiting for the workers");
      }
    }
  }

  private static String describe(Map<String, String> missing) {
    List<String> parts = new ArrayList<>();
    missing.forEach((h, why) -> parts.add(h + " (" + why + ")"));
    return String.join(", ", parts);
  }

  /** Null when {@code host:port} accepts a connection; else why not. */
  static String reach(String host, int port) {
    InetAddress address;
    try {
      address = InetAddress.getByName(host);
    } catch (UnknownHostException e) {
      return "no DNS name yet";
    }
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(address, port), 2000);
      return null;
    } catch (IOException e) {
      return "port "
          + port
          + ": "
          + (e.getMessage() == null
              ? e.getClass().getSimpleName()
              : e.getMessage().toLowerCase(java.util.Locale.ROOT));
    }
  }
}
