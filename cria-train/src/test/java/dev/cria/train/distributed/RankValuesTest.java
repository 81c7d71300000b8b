package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The values the ranks agree on: exact for one rank; for several, the group's float sum, one
 * collective of one or two floats each.
 */
class RankValuesTest {
  @Test
  void oneRankGetsItsOwnValuesExactlyWithoutACollective() {
    RecordingGroup one = new RecordingGroup(0, 1);
    RankValues v = new RankValues(one);
    assertThat(v.sum(0.1)).isEqualTo(0.1);
    assertThat(v.mean(0.1)).isEqualTo(0.1);
    assertThat(v.sums(0.1, 0.2)).containsExactly(0.1, 0.2);
    assertThat(v.any(true, false)).containsExactly(true, false);
    assertThat(v.any(false, true)).containsExactly(false, true);
    assertThat(one.calls()).isEmpty();
  }

  @Test
  void severalRanksSumInFloatInOneCollective() {
    RecordingGroup four = new RecordingGroup(2, 4);
    four.others = 3; // what the other three ranks add together
    RankValues v = new RankValues(four);
    assertThat(v.sum(0.1)).isEqualTo((double) (0.1f + 3f));
    assertThat(v.mean(1)).isEqualTo(1.0);
    assertThat(v.sums(0.5, 2)).containsExactly(3.5, 5.0);
    assertThat(four.calls())
        .containsExactly("allReduceSum 0+8 1", "allReduceSum 0+8 1", "allReduceSum 0+8 2");
  }

  @Test
  void anyRankSayingSoIsEnough() {
    RecordingGroup two = new RecordingGroup(0, 2);
    RankValues v = new RankValues(two);
    assertThat(v.any(false, false)).containsExactly(false, false);
    assertThat(v.any(true, false)).containsExactly(true, false);
    assertThat(v.any(false, true)).containsExactly(false, true);
    two.others = 1; // the other rank says yes to both
    assertThat(v.any(false, false)).containsExactly(true, true);
    assertThat(two.calls()).hasSize(4).allMatch(c -> c.equals("allReduceSum 0+8 2"));
  }
}
