package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.CollectiveException;
import java.util.Optional;

/** Joins a job's group over the collectives {@link JoinSettings#kind()} asks for. */
public final class Collectives {
  private Collectives() {}

  /**
   * Bytes of memory the collectives hold in each of {@code world} ranks, {@code ranksPerHost} of
   * them on each host: the shared mapping of a host's ranks, and the TCP ring's buffers when the
   * job crosses hosts (Open MPI's own buffers are not counted).
   */
  public static long bufferBytes(int world, int ranksPerHost) {
    if (world == 1) {
      return 0;
    }
    long bytes = ranksPerHost > 1 ? ShmCollective.size(ranksPerHost) : 0;
    if (world > ranksPerHost) {
      bytes += TcpCollective.bufferBytes(world);
    }
    return bytes;
  }

  /**
   * As above, with the groups split out of the job when it has tensor-parallel groups of {@code
   * tensorParallel} ranks beside data parallelism: a mapping for the tensor-parallel group (on one
   * host), and the data-parallel group's own (a mapping on one host, a TCP ring across hosts).
   */
  public static long bufferBytes(int world, int ranksPerHost, int tensorParallel) {
    long bytes = bufferBytes(world, ranksPerHost);
    int data = world / tensorParallel;
    if (tensorParallel > 1 && data > 1) {
      bytes += ShmCollective.size(tensorParallel);
      bytes += world <= ranksPerHost ? ShmCollective.size(data) : TcpCollective.bufferBytes(data);
    }
    return bytes;
  }

  /**
   * Joins the group of {@code env}: nothing for one rank; Open MPI's collectives when mpirun
   * started the job and its library loads (or {@code mpi} is asked for); else the TCP ring, proven
   * with {@code key} ({@link Rendezvous}), moved onto a shared mapping when every rank is on this
   * host and the kind allows it, or onto {@link HierarchicalCollective} (shared memory within each
   * host, TCP rails between hosts) when the job spans hosts with several ranks each.
   *
   * @throws CollectiveException when a peer cannot be reached or proven, when a group of several
   *     ranks has no secret, or when {@code shm} is asked for ranks on several hosts
   */
  public static Collective join(RankEnvironment env, Optional<JobKey> key, JoinSettings settings) {
    if (env.worldSize() == 1) {
      return Collective.single();
    }
    CollectiveKind kind = settings.kind();
    boolean mpirun = MpiCollective.startedByMpirun(System.getenv());
    if (kind == CollectiveKind.MPI) {
      if (!mpirun) {
        throw new CollectiveException(
            "--collective mpi: this process was not started by Open MPI's mpirun"
                + " (OMPI_COMM_WORLD_SIZE is not set); use auto, tcp or shm");
      }
      return MpiCollective.init(env);
    }
    if (kind == CollectiveKind.AUTO && mpirun) {
      Optional<String> why = MpiCollective.unavailable();
      if (why.isEmpty()) {
        return MpiCollective.init(env);
      }
      settings.log().accept(why.get() + "; using cria's own collectives");
    }
    JobKey k =
        key.orElseThrow(() ->
            new CollectiveException(
                "a job of "
                    + env.worldSize()
                    + " ranks needs a job secret, so that only its own ranks join: set "
                    + JobKey.SECRET
                    + " or "
                    + JobKey.SECRET_FILE
                    + " (the same on every rank; cria train --nproc and cria k8s render set them)"));
    TcpCollective tcp = (TcpCollective) TcpCollective.join(env, k, settings);
    if (kind == CollectiveKind.TCP) {
      return tcp;
    }
    try {
      Optional<HostGroups> hosts = HostGroups.discover(tcp, settings);
      if (hosts.isPresent() && hosts.get().hosts().size() == 1) {
        Optional<ShmCollective> shm = ShmCollective.attach(tcp, settings);
        if (shm.isPresent()) {
          tcp.close();
          return shm.get();
        }
      }
      if (kind == CollectiveKind.SHM) {
        throw new CollectiveException(
            "--collective shm: the ranks cannot share a mapping ("
                + hosts.map(HostGroups::describe).orElse("not all on one host")
                + ", or no room in "
                + settings.shmDirectory()
                + "); use auto or tcp");
      }
      if (hosts.isPresent() && hosts.get().hosts().size() > 1) {
        Optional<Collective> hierarchy =
            HierarchicalCollective.build(tcp, hosts.get(), env, k, settings);
        if (hierarchy.isPresent()) {
          tcp.close();
          return hierarchy.get();
        }
      }
      return tcp;
    } catch (RuntimeException e) {
      tcp.close();
      throw e;
    }
  }
}
