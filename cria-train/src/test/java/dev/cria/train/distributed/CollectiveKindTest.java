package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The names of the collectives, as --collective takes them. */
class CollectiveKindTest {
  @Test
  void collectiveKindsAreNamedInLowerCaseAndParsedInAnyCase() {
    assertThat(CollectiveKind.parse(" Tcp ")).isEqualTo(CollectiveKind.TCP);
    assertThat(CollectiveKind.parse("mpi")).isEqualTo(CollectiveKind.MPI);
    assertThat(CollectiveKind.SHM).hasToString("shm");
    assertThat(CollectiveKind.AUTO).hasToString("auto");
    assertThatThrownBy(() -> CollectiveKind.parse("nccl"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("collective 'nccl' is not one of auto, tcp, shm, mpi");
  }
}
