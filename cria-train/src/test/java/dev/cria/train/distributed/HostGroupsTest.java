package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which ranks share a host: rank 0 of five, whose peers' probe records and rows of "whom I see"
 * arrive through a fake gather, so that every case (a tag read back, a tag not found, a tag of
 * other bytes, a record not written, a table that does not agree) is made by hand.
 */
class HostGroupsTest {
  @TempDir Path shm;
  final List<String> log = new ArrayList<>();

  /** Rank 0 of 5: the first gather brings {@code records}, the second {@code rows}. */
  static final class Peers extends RecordingGroup {
    final byte[][] records = new byte[5][];
    final byte[][] rows = new byte[5][];
    final List<Long> counts = new ArrayList<>();

    Peers() {
      super(0, 5);
    }

    @Override
    public void allGather(MemorySegment floats, long count) {
      counts.add(count);
      byte[][] from = counts.size() == 1 ? records : rows;
      int size = counts.size() == 1 ? 32 : 8;
      for (int q = 1; q < 5; q++) {
        if (from[q] != null) {
          MemorySegment.copy(from[q], 0, floats, ValueLayout.JAVA_BYTE, (long) size * q, size);
        }
      }
    }
  }

  /** A record of a rank that wrote {@code tag} (flag 1, or another flag). */
  private static byte[] record(int flag, byte[] tag) {
    byte[] r = new byte[32];
    MemorySegment.ofArray(r).set(ValueLayout.JAVA_INT_UNALIGNED, 0, flag);
    System.arraycopy(tag, 0, r, 4, 16);
    return r;
  }

  private static byte[] tag(int b) {
    byte[] t = new byte[16];
    java.util.Arrays.fill(t, (byte) b);
    return t;
  }

  private Path probe(byte[] tag) {
    return shm.resolve("cria-probe-" + HexFormat.of().formatHex(tag));
  }

  /** Rank {@code q}'s row: whom it sees, 8 bytes for 5 ranks. */
  private static byte[] row(int... seen) {
    byte[] r = new byte[8];
    for (int s : seen) {
      r[s] = 1;
    }
    return r;
  }

  private Peers peers() throws IOException {
    Peers p = new Peers();
    Files.write(probe(tag(1)), tag(1)); // rank 1 shares this directory
    p.records[1] = record(1, tag(1));
    p.records[2] = record(1, tag(2)); // rank 2's tag is not here
    Files.write(probe(tag(4)), tag(9)); // a file of that name, with other bytes
    p.records[4] = record(1, tag(4));
    Files.write(probe(tag(3)), tag(3));
    p.records[3] = record(0, tag(3)); // rank 3 could not write its probe
    return p;
  }

  private JoinSettings settings() {
    return JoinSettings.of(Duration.ofSeconds(1), Duration.ofSeconds(1))
        .withShmDirectory(shm)
        .withLog(log::add);
  }

  @Test
  void ranksThatReadEachOthersProbesShareAHostAndEveryProbeOfThisRankIsRemoved()
      throws IOException {
    Peers p = peers();
    p.rows[1] = row(0, 1);
    p.rows[2] = row(2, 4);
    p.rows[3] = row(3);
    p.rows[4] = row(2, 4);
    HostGroups hosts = HostGroups.discover(p, settings()).orElseThrow();
    assertThat(p.counts).containsExactly(40L, 10L);
    assertThat(hosts.hosts()).containsExactly(new int[] {0, 1}, new int[] {2, 4}, new int[] {3});
    assertThat(hosts.describe()).isEqualTo("3 hosts of 2, 2, 1 ranks");
    assertThat(hosts.membersOf(4)).containsExactly(2, 4);
    assertThat(hosts.hostOf(3)).isEqualTo(2);
    assertThat(hosts.hostOf(1)).isZero();
    assertThat(log).isEmpty();
    try (Stream<Path> s = Files.list(shm)) {
      assertThat(s).containsExactlyInAnyOrder(probe(tag(1)), probe(tag(3)), probe(tag(4)));
    }
  }

  @Test
  void rowsThatDoNotAgreeGiveNoTable() throws IOException {
    Peers p = peers();
    p.rows[1] = row(0, 1, 2); // rank 1 claims to see rank 2, which rank 0 does not
    p.rows[2] = row(1, 2);
    p.rows[3] = row(3);
    p.rows[4] = row(4);
    assertThat(HostGroups.discover(p, settings())).isEmpty();

    Peers q = peers();
    q.rows[1] = row(0, 1);
    q.rows[2] = row(0, 2); // rank 2 sees rank 0, whose host is placed already
    q.rows[3] = row(3);
    q.rows[4] = row(4);
    assertThat(HostGroups.discover(q, settings())).isEmpty();
  }

  @Test
  void aRankThatCannotWriteItsProbeSaysSoAndIsAHostOfItsOwn() {
    JoinSettings nowhere = settings().withShmDirectory(shm.resolve("missing"));
    Optional<HostGroups> hosts = HostGroups.discover(new RecordingGroup(0, 1), nowhere);
    assertThat(hosts.orElseThrow().hosts()).containsExactly(new int[] {0});
    assertThat(hosts.get().describe()).isEqualTo("1 host of 1 rank");
    assertThat(log)
        .singleElement()
        .asString()
        .startsWith("rank 0: cannot write in " + shm.resolve("missing") + ": ");
  }

  @Test
  void aTableIsDescribedByItsHostsAndTheirSizes() {
    HostGroups uniform = new HostGroups(List.of(new int[] {0, 2}, new int[] {1, 3}));
    assertThat(uniform.uniform()).isTrue();
    assertThat(uniform.describe()).isEqualTo("2 hosts of 2 ranks");
    assertThat(uniform.membersOf(3)).containsExactly(1, 3);
    assertThatThrownBy(() -> uniform.hostOf(4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("rank 4 is on no host");
    assertThat(new HostGroups(List.of(new int[] {0}, new int[] {1})).describe())
        .isEqualTo("2 hosts of 1 rank");
    assertThat(new HostGroups(List.<int[]>of(new int[] {0, 1, 2})).describe())
        .isEqualTo("1 host of 3 ranks");
    HostGroups mixed = new HostGroups(List.of(new int[] {0}, new int[] {1, 2}));
    assertThat(mixed.uniform()).isFalse();
    assertThat(mixed.describe()).isEqualTo("2 hosts of 1, 2 ranks");
  }
}
