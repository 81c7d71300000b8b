package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RankEnvironmentTest {
  @TempDir Path tmp;

  @Test
  void criasVariablesComeFirst() {
    RankEnvironment e =
        RankEnvironment.from(
            Map.of(
                "CRIA_RANK",
                "2",
                "CRIA_WORLD_SIZE",
                "4",
                "CRIA_LOCAL_RANK",
                "0",
                "CRIA_MASTER_ADDR",
                "10.0.0.1",
                "CRIA_MASTER_PORT",
                "6000",
                "OMPI_COMM_WORLD_RANK",
                "3"));
    assertThat(e).isEqualTo(new RankEnvironment(2, 4, 0, "10.0.0.1", 6000));
  }

  @Test
  void openMpiVariablesWithTheFirstHostOfTheHostfileAsMaster() throws IOException {
    Path hostfile = tmp.resolve("hostfile");
    Files.writeString(
        hostfile, "# the MPI Operator's hostfile\n\nworker-0.job slots=1\nworker-1.job slots=1\n");
    RankEnvironment e =
        RankEnvironment.from(
            Map.of(
                "OMPI_COMM_WORLD_RANK",
                "1",
                "OMPI_COMM_WORLD_SIZE",
                "2",
                "OMPI_COMM_WORLD_LOCAL_RANK",
                "0",
                "OMPI_MCA_orte_default_hostfile",
                hostfile.toString()));
    assertThat(e)
        .isEqualTo(new RankEnvironment(1, 2, 0, "worker-0.job", RankEnvironment.DEFAULT_PORT));
  }

  @Test
  void everyRankOnOneHostOfAJobOfSeveralIsRefusedNamingOpenMpi5sVariable() {
    Map<String, String> allOnTheLauncher =
        Map.of(
            "OMPI_COMM_WORLD_RANK",
            "3",
            "OMPI_COMM_WORLD_SIZE",
            "4",
            "OMPI_COMM_WORLD_LOCAL_RANK",
            "3",
            "OMPI_COMM_WORLD_LOCAL_SIZE",
            "4",
            "CRIA_MASTER_ADDR",
            "10.0.0.1",
            RankEnvironment.WORKER_HOSTS,
            "2");
    assertThatThrownBy(() -> RankEnvironment.from(allOnTheLauncher))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("all 4 ranks started on one host (")
        .hasMessageContaining("but this job has 2 worker hosts (CRIA_WORKER_HOSTS)")
        .hasMessageContaining("PRTE_MCA_prte_default_hostfile=/etc/mpi/hostfile");
    // spread as the hostfile says: two ranks a host
    Map<String, String> spread = new java.util.HashMap<>(allOnTheLauncher);
    spread.put("OMPI_COMM_WORLD_LOCAL_SIZE", "2");
    spread.put("OMPI_COMM_WORLD_LOCAL_RANK", "1");
    assertThat(RankEnvironment.from(spread).rank()).isEqualTo(3);
    // one worker host, or a plain mpirun on one machine (no CRIA_WORKER_HOSTS): all on one is right
    spread.put("OMPI_COMM_WORLD_LOCAL_SIZE", "4");
    spread.put(RankEnvironment.WORKER_HOSTS, "1");
    assertThat(RankEnvironment.from(spread).worldSize()).isEqualTo(4);
    spread.remove(RankEnvironment.WORKER_HOSTS);
    assertThat(RankEnvironment.from(spread).worldSize()).isEqualTo(4);
    spread.put(RankEnvironment.WORKER_HOSTS, "two");
    assertThatThrownBy(() -> RankEnvironment.from(spread))
        .hasMessageContaining("CRIA_WORKER_HOSTS");
  }

  @Test
  void intelMpiMpichAndTheLauncherPodWithoutMpirunAreRefusedSayingWhy() {
    assertThatThrownBy(() -> RankEnvironment.from(Map.of("PMI_RANK", "0", "PMI_SIZE", "4")))
        .hasMessageStartingWith(
            "this process was started by Intel MPI or MPICH (PMI_RANK is set): cria's workers run"
                + " under Open MPI");
    assertThatThrownBy(() -> RankEnvironment.from(Map.of("I_MPI_HYDRA_HOST_FILE", "/etc/mpi/h")))
        .hasMessageContaining("(I_MPI_HYDRA_HOST_FILE is set)");
    assertThatThrownBy(() -> RankEnvironment.from(Map.of("K_MPI_JOB_ROLE", "launcher")))
        .hasMessageContaining("K_MPI_JOB_ROLE=launcher")
        .hasMessageContaining("through mpirun");
    // a worker pod's process started by Open MPI's mpirun is fine, whatever the pod's role
    RankEnvironment e =
        RankEnvironment.from(
            Map.of(
                "K_MPI_JOB_ROLE", "worker",
                "OMPI_COMM_WORLD_RANK", "1",
                "OMPI_COMM_WORLD_SIZE", "2",
                "CRIA_MASTER_ADDR", "job-worker-0.job.default.svc"));
    assertThat(e.rank()).isEqualTo(1);
    assertThat(e.masterAddr()).isEqualTo("job-worker-0.job.default.svc");
  }

  @Test
  void noVariablesIsASingleProcessAndBadOnesNameTheVariable() {
    assertThat(RankEnvironment.from(Map.of())).isEqualTo(RankEnvironment.single());
    assertThatThrownBy(() -> RankEnvironment.from(Map.of("CRIA_RANK", "x", "CRIA_WORLD_SIZE", "2")))
        .hasMessage("CRIA_RANK='x' is not an integer");
    assertThatThrownBy(() -> RankEnvironment.from(Map.of("CRIA_RANK", "0")))
        .hasMessage("CRIA_WORLD_SIZE is not set");
    assertThatThrownBy(() -> RankEnvironment.from(Map.of("CRIA_RANK", "2", "CRIA_WORLD_SIZE", "2")))
        .hasMessageContaining("CRIA_RANK: rank 2 of world size 2");
    assertThatThrownBy(() ->
            RankEnvironment.from(
                Map.of("CRIA_RANK", "0", "CRIA_WORLD_SIZE", "2", "CRIA_MASTER_PORT", "70000")))
        .hasMessageContaining("not a TCP port");
  }
}
