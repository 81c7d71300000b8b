package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class TrainingSetupTest {
  @Test
  void allCoresAreSharedAmongTheRanksMpirunStartedOnTheHost() {
    int cores = Runtime.getRuntime().availableProcessors();
    assertThat(TrainingSetup.threadsFor(3, Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "8"))).isEqualTo(3);
    assertThat(TrainingSetup.threadsFor(0, Map.of())).isZero(); // the backend takes every core
    assertThat(TrainingSetup.threadsFor(0, Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "1"))).isZero();
    assertThat(TrainingSetup.threadsFor(0, Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "2")))
        .isEqualTo(Math.max(1, cores / 2));
    assertThat(TrainingSetup.threadsFor(0, Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "1000")))
        .isEqualTo(1);
    assertThat(TrainingSetup.threadsFor(0, Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "x"))).isZero();
  }
}
