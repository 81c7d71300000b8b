package dev.cria.cli.train;

import picocli.CommandLine.Command;

/**
 * {@code cria worker}: one rank of a data-parallel training job, what {@code mpirun}, a pod of an
 * MPIJob or {@code cria train --nproc N} runs. It takes {@code cria train}'s options and joins the
 * group described by its environment ({@code CRIA_RANK}, ... or Open MPI's variables).
 */
@Command(
    name = "worker",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Run one rank of a data-parallel training job (what mpirun or cria train --nproc starts).",
      "",
      "Takes cria train's options but --nproc. The rank, world size and rendezvous come from CRIA_RANK, CRIA_WORLD_SIZE,"
          + " CRIA_LOCAL_RANK, CRIA_MASTER_ADDR, CRIA_MASTER_PORT, or from Open MPI's OMPI_COMM_WORLD_RANK/SIZE/"
          + "LOCAL_RANK with the first host of the MPI hostfile as master.",
      ""
    })
public final class WorkerCommand extends RankCommand {
  @Override
  protected boolean isWorker() {
    return true;
  }

  @Override
  protected int processes() {
    return 1;
  }
}
