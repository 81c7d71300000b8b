package dev.cria.train.distributed;

import dev.cria.core.run.RankStatus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Who this process is in a data-parallel job: its rank, the world size, its rank on this host, and
 * where rank 0 waits for the others to join.
 *
 * <p>Read from cria's variables ({@code CRIA_RANK}, {@code CRIA_WORLD_SIZE}, {@code
 * CRIA_LOCAL_RANK}, {@code CRIA_MASTER_ADDR}, {@code CRIA_MASTER_PORT}), which the local launcher
 * sets, or else from Open MPI's ({@code OMPI_COMM_WORLD_RANK}, {@code OMPI_COMM_WORLD_SIZE}, {@code
 * OMPI_COMM_WORLD_LOCAL_RANK}), which {@code mpirun} and the MPI Operator's launcher set; then the
 * master is the first host of the MPI hostfile unless {@code CRIA_MASTER_ADDR} is set. Without
 * either, the process is alone: rank 0 of 1.
 *
 * @param masterPort the rendezvous port of rank 0 ({@link #DEFAULT_PORT} unless set)
 */
public record RankEnvironment(
    int rank, int worldSize, int localRank, String masterAddr, int masterPort) {
  public static final int DEFAULT_PORT = 29500;

  /**
   * How many hosts the job's ranks should be spread over: cria's MPIJob launcher passes its worker
   * count here ({@code mpirun -x}), so that a rank can tell that mpirun ignored the hostfile.
   */
  public static final String WORKER_HOSTS = "CRIA_WORKER_HOSTS";

  /** Where the Kubeflow MPI Operator mounts the hostfile in the launcher. */
  public static final String OPERATOR_HOSTFILE = "/etc/mpi/hostfile";

  public RankEnvironment {
    if (worldSize < 1 || rank < 0 || rank >= worldSize || localRank < 0) {
      throw new IllegalArgumentException(
          "rank "
              + rank
              + " of world size "
              + worldSize
              + " (local rank "
              + localRank
              + ") is not a valid rank");
    }
    if (masterPort < 1 || masterPort > 65535) {
      throw new IllegalArgumentException("master port " + masterPort + " is not a TCP port");
    }
  }

  /** A process alone: rank 0 of 1. */
  public static RankEnvironment single() {
    return new RankEnvironment(0, 1, 0, "127.0.0.1", DEFAULT_PORT);
  }

  /** From this process's environment. */
  public static RankEnvironment fromEnvironment() {
    return from(System.getenv());
  }

  /** From {@code env} (see the class comment for the variables); bad values name the variable. */
  public static RankEnvironment from(Map<String, String> env) {
    if (!env.containsKey("CRIA_RANK") && !env.containsKey("OMPI_COMM_WORLD_RANK")) {
      refuseOtherLaunchers(env);
    }
    String master = env.get("CRIA_MASTER_ADDR");
    int port =
        env.containsKey("CRIA_MASTER_PORT") ? integer(env, "CRIA_MASTER_PORT") : DEFAULT_PORT;
    if (env.containsKey("CRIA_RANK") || env.containsKey("CRIA_WORLD_SIZE")) {
      int rank = integer(env, "CRIA_RANK");
      int world = integer(env, "CRIA_WORLD_SIZE");
      int local = env.containsKey("CRIA_LOCAL_RANK") ? integer(env, "CRIA_LOCAL_RANK") : rank;
      return checked(rank, world, local, master != null ? master : "127.0.0.1", port, "CRIA_RANK");
    }
    if (env.containsKey("OMPI_COMM_WORLD_RANK")) {
      int rank = integer(env, "OMPI_COMM_WORLD_RANK");
      int world = integer(env, "OMPI_COMM_WORLD_SIZE");
      int local =
          env.containsKey("OMPI_COMM_WORLD_LOCAL_RANK")
              ? integer(env, "OMPI_COMM_WORLD_LOCAL_RANK")
              : 0;
      refuseAllOnOneHost(env, world);
      if (master == null) {
        master = firstHost(env);
      }
      return checked(rank, world, local, master, port, "OMPI_COMM_WORLD_RANK");
    }
    return single();
  }

  /**
   * A process that Intel MPI or MPICH started (the MPI Operator's other implementations), or the
   * MPIJob's launcher pod running {@code cria worker} without mpirun, would otherwise train alone
   * as rank 0 of 1: refused, saying what to do.
   */
  private static void refuseOtherLaunchers(Map<String, String> env) {
    for (String key : env.keySet().stream().sorted().toList()) {
      if (key.equals("PMI_RANK") || key.equals("MPI_LOCALRANKID") || key.startsWith("I_MPI_")) {
        throw new IllegalArgumentException(
            "this process was started by Intel MPI or MPICH ("
                + key
                + " is set): cria's workers run under Open MPI (an MPIJob with mpiImplementation:"
                + " OpenMPI, as cria k8s render writes it) or cria train --nproc");
      }
    }
    if ("launcher".equals(env.get("K_MPI_JOB_ROLE"))) {
      throw new IllegalArgumentException(
          "this is the MPIJob's launcher pod (K_MPI_JOB_ROLE=launcher) and mpirun did not start"
              + " this process: run cria worker through mpirun, as the launcher command of cria"
              + " k8s render does");
    }
  }

  /**
   * Open MPI 5 ignores the {@code OMPI_MCA_orte_*} variables through which the MPI Operator and
   * Kubeflow Trainer hand mpirun their hostfile (mpi-operator #842, trainer #4028): mpirun then
   * starts every rank on the launcher, the worker pods idle, and the job still ends "Complete". A
   * rank sees it before joining: all {@code world} ranks share its host ({@code
   * OMPI_COMM_WORLD_LOCAL_SIZE}) though the job has several worker hosts.
   */
  private static void refuseAllOnOneHost(Map<String, String> env, int world) {
    if (!env.containsKey(WORKER_HOSTS) || !env.containsKey("OMPI_COMM_WORLD_LOCAL_SIZE")) {
      return;
    }
    int hosts = integer(env, WORKER_HOSTS);
    if (hosts > 1 && world > 1 && integer(env, "OMPI_COMM_WORLD_LOCAL_SIZE") == world) {
      throw new IllegalArgumentException(
          "all "
              + world
              + " ranks started on one host ("
              + RankStatus.thisHost()
              + "), but this job has "
              + hosts
              + " worker hosts ("
              + WORKER_HOSTS
              + "): mpirun did not read the job's hostfile. Open MPI 5 ignores the"
              + " OMPI_MCA_orte_* variables the MPI Operator and Kubeflow Trainer set: set"
              + " PRTE_MCA_prte_default_hostfile="
              + OPERATOR_HOSTFILE
              + " in the launcher, pass --hostfile to mpirun, or use Open MPI 4 (cria's image"
              + " has Debian's 4.1)");
    }
  }

  private static RankEnvironment checked(
      int rank, int world, int local, String master, int port, String variable) {
    try {
      return new RankEnvironment(rank, world, local, master, port);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(variable + ": " + e.getMessage(), e);
    }
  }

  /**
   * The first host of the MPI hostfile ({@code OMPI_MCA_orte_default_hostfile} or the operator's);
   * else loopback.
   */
  private static String firstHost(Map<String, String> env) {
    for (String candidate :
        new String[] {
          env.get("OMPI_MCA_orte_default_hostfile"),
          env.get("OMPI_MCA_prte_default_hostfile"),
          OPERATOR_HOSTFILE
        }) {
      if (candidate == null) {
        continue;
      }
      Path file = Path.of(candidate);
      if (!Files.isReadable(file)) {
        continue;
      }
      try {
        List<String> lines = Files.readAllLines(file);
        for (String line : lines) {
          String host = line.replaceAll("#.*", "").strip().split("\\s+")[0];
          if (!host.isEmpty()) {
            return host;
          }
        }
      } catch (IOException e) {
        throw new IllegalArgumentException(
            "cannot read the MPI hostfile " + file + ": " + e.getMessage(), e);
      }
    }
    return "127.0.0.1";
  }

  private static int integer(Map<String, String> env, String name) {
    String value = env.get(name);
    if (value == null) {
      throw new IllegalArgumentException(name + " is not set");
    }
    try {
      return Integer.parseInt(value.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + "='" + value + "' is not an integer");
    }
  }
}
