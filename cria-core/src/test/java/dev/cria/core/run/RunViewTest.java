package dev.cria.core.run;

import static dev.cria.core.run.StatusFilesTest.status;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class RunViewTest {
  static final long NOW = 1_000_000L;

  @Test
  void aRankTwentyPercentSlowerThanTheMedianIsAStraggler() {
    RunView v =
        new RunView(
            List.of(
                status(0, RankState.TRAINING, 10, 1.0, NOW),
                status(1, RankState.TRAINING, 10, 1.1, NOW),
                status(2, RankState.TRAINING, 9, 1.4, NOW)),
            NOW,
            30);
    assertThat(v.medianStepSeconds()).isEqualTo(1.1);
    assertThat(v.ranks()).filteredOn(v::straggler).extracting(RankStatus::rank).containsExactly(2);
    assertThat(v.step()).isEqualTo(9);
    assertThat(v.etaSeconds()).isEqualTo((300 - 9) * 1.1);
  }

  @Test
  void aRankWithoutAnUpdateForTheLimitThreeStepsOrSixHeartbeatsIsSilentUnlessItEnded() {
    RunView v =
        new RunView(
            List.of(
                status(0, RankState.TRAINING, 10, 1.0, NOW - 31_000), // 31 s > 30 s
                status(1, RankState.TRAINING, 10, 20.0, NOW - 31_000), // long steps: 60 s allowed
                status(2, RankState.FINISHED, 10, 1.0, NOW - 100_000), // ended: never silent
                status(3, RankState.SAVING, 10, 1.0, NOW - 1_000)),
            NOW,
            30);
    assertThat(v.ranks()).filteredOn(v::silent).extracting(RankStatus::rank).containsExactly(0);
    assertThat(v.ended()).isFalse();
    // a run that beats every 10 s: its peers wait six heartbeats, and so does the view
    RunView slowBeat =
        new RunView(
            List.of(
                status(0, RankState.TRAINING, 10, 1.0, NOW - 59_000, 10),
                status(1, RankState.TRAINING, 10, 1.0, NOW - 61_000, 10),
                status(2, RankState.TRAINING, 10, 1.0, NOW - 31_000, Double.NaN)),
            NOW,
            30);
    assertThat(slowBeat.ranks())
        .filteredOn(slowBeat::silent)
        .extracting(RankStatus::rank)
        .containsExactly(1, 2);
    assertThat(
            new RunView(
                    List.of(
                        status(0, RankState.FINISHED, 1, 1, NOW),
                        status(1, RankState.STOPPED, 1, 1, NOW)),
                    NOW,
                    30)
                .ended())
        .isTrue();
  }

  @Test
  void aSingleRankIsNeverAStragglerAndTheJsonHasEveryRank() {
    RunView v = new RunView(List.of(status(0, RankState.TRAINING, 10, 5.0, NOW)), NOW + 2_000, 30);
    assertThat(v.straggler(v.ranks().getFirst())).isFalse();
    assertThat(v.toJson())
        .contains("\"step\":10")
        .contains("\"heartbeat_age_seconds\":2.0")
        .contains("\"straggler\":false")
        .contains("\"silent\":false")
        .doesNotContain("format");
    assertThat(new RunView(List.of(), NOW, 30).lead()).isNull();
  }
}
