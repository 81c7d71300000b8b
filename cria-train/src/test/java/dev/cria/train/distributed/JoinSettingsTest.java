package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** How a rank joins: timeouts checked, defaults, and each with-method changing only its field. */
class JoinSettingsTest {
  @Test
  void joinSettingsRefuseNegativeTimeoutsAndEachWithChangesOnlyItsOwnField() {
    Duration minus = Duration.ofMillis(-1);
    Duration s = Duration.ofSeconds(1);
    BooleanSupplier no = () -> false;
    Consumer<String> quiet = l -> {};
    for (Duration[] d : new Duration[][] {{minus, s, s}, {s, minus, s}, {s, s, minus}}) {
      assertThatThrownBy(() ->
              new JoinSettings(CollectiveKind.TCP, d[0], d[1], d[2], no, quiet, Path.of("/x")))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("timeouts must not be negative");
    }
    assertThat(new JoinSettings(CollectiveKind.TCP, Duration.ZERO, s, s, no, quiet).shmDirectory())
        .isEqualTo(JoinSettings.defaultShmDirectory());

    JoinSettings base = JoinSettings.of(Duration.ofSeconds(30), Duration.ofSeconds(10));
    assertThat(base.kind()).isEqualTo(CollectiveKind.AUTO);
    assertThat(base.joinTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(base.timeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(base.handshakeTimeout()).isEqualTo(JoinSettings.DEFAULT_HANDSHAKE_TIMEOUT);
    assertThat(JoinSettings.DEFAULT_HANDSHAKE_TIMEOUT).isEqualTo(Duration.ofSeconds(5));
    assertThat(base.stopped().getAsBoolean()).isFalse();
    base.log().accept("goes nowhere");

    List<String> lines = new ArrayList<>();
    BooleanSupplier yes = () -> true;
    Path dir = Path.of("/somewhere");
    JoinSettings all =
        base.withKind(CollectiveKind.SHM)
            .withLog(lines::add)
            .withStop(yes)
            .withHandshakeTimeout(Duration.ofMillis(300))
            .withShmDirectory(dir);
    assertThat(all.kind()).isEqualTo(CollectiveKind.SHM);
    assertThat(all.joinTimeout()).isEqualTo(base.joinTimeout());
    assertThat(all.timeout()).isEqualTo(base.timeout());
    assertThat(all.handshakeTimeout()).isEqualTo(Duration.ofMillis(300));
    assertThat(all.stopped()).isSameAs(yes);
    assertThat(all.shmDirectory()).isEqualTo(dir);
    all.log().accept("heard");
    assertThat(lines).containsExactly("heard");
    for (JoinSettings one :
        List.of(
            base.withKind(CollectiveKind.MPI),
            base.withLog(lines::add),
            base.withStop(yes),
            base.withHandshakeTimeout(Duration.ofMillis(300)),
            base.withShmDirectory(dir))) {
      int same = 0;
      same += one.kind() == base.kind() ? 1 : 0;
      same += one.log() == base.log() ? 1 : 0;
      same += one.stopped() == base.stopped() ? 1 : 0;
      same += one.handshakeTimeout().equals(base.handshakeTimeout()) ? 1 : 0;
      same += one.shmDirectory().equals(base.shmDirectory()) ? 1 : 0;
      assertThat(same).as(one.toString()).isEqualTo(4);
      assertThat(one.joinTimeout()).isEqualTo(base.joinTimeout());
      assertThat(one.timeout()).isEqualTo(base.timeout());
    }
  }

  @Test
  void theSharedMemoryDirectoryIsDevShmWhenItCanBeWritten() {
    Path shm = Path.of("/dev/shm");
    Path expected =
        Files.isDirectory(shm) && Files.isWritable(shm)
            ? shm
            : Path.of(System.getProperty("java.io.tmpdir"));
    assertThat(JoinSettings.defaultShmDirectory()).isEqualTo(expected);
  }
}
