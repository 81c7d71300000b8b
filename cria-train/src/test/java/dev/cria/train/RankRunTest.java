package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RankRunTest {
  @Test
  void moreThreadsThanCoresOnAHostIsToldWithWhatWouldFit() {
    assertThat(RankRun.oversubscribed(2, 2, 2))
        .hasValueSatisfying(line ->
            assertThat(line)
                .startsWith("2 rank(s) x 2 thread(s) on this host's 2 core(s)")
                .endsWith("--threads 1 (or 0) gives each rank its share"));
    assertThat(RankRun.oversubscribed(8, 1, 2))
        .hasValueSatisfying(line -> assertThat(line).contains("--threads 2 (or 0)"));
    assertThat(RankRun.oversubscribed(1, 4, 2))
        .hasValueSatisfying(
            line -> assertThat(line).endsWith("fewer ranks on this host would run faster"));
    assertThat(RankRun.oversubscribed(1, 2, 2)).isEmpty();
    assertThat(RankRun.oversubscribed(0, 4, 2)).isEmpty(); // 0: each its share, at least one
  }
}
