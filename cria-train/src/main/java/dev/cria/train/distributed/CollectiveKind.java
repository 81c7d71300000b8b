package dev.cria.train.distributed;

import java.util.Locale;

/** Which collectives a job uses ({@code --collective}). */
public enum CollectiveKind {
  /**
   * Open MPI under mpirun when libmpi loads; else shared memory when every rank is on one host;
   * else the TCP ring.
   */
  AUTO,
  /** The TCP ring between every rank. */
  TCP,
  /** A shared mapping between the ranks of one host (every rank on the same host). */
  SHM,
  /** Open MPI's collectives through its C library (a job started by mpirun). */
  MPI;

  /** The kind named {@code name} (auto, tcp, shm, mpi), or an error listing the names. */
  public static CollectiveKind parse(String name) {
    try {
      return valueOf(name.strip().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "collective '" + name + "' is not one of auto, tcp, shm, mpi");
    }
  }

  @Override
  public String toString() {
    return name().toLowerCase(Locale.ROOT);
  }
}
