package dev.cria.data.gpt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class GlobalBatchesTest {
  @Test
  void everySampleOfAGlobalBatchIsTakenOnceByOneRankInMegatronsOrder() {
    GlobalBatches b = new GlobalBatches(12, 2, 3);
    assertThat(b.microStepsPerBatch()).isEqualTo(2);
    List<Long> seen = new ArrayList<>();
    for (int m = 0; m < 2; m++) {
      for (int r = 0; r < 3; r++) {
        long first = b.firstSample(100, m, r);
        seen.add(first);
        seen.add(first + 1);
      }
    }
    assertThat(seen)
        .containsExactly(100L, 101L, 102L, 103L, 104L, 105L, 106L, 107L, 108L, 109L, 110L, 111L);
    // Megatron's MegatronPretrainingSampler: micro-step 1 of rank 2 starts at (1 * 3 + 2) * 2
    assertThat(b.firstSample(0, 1, 2)).isEqualTo(10);
    assertThat(b.batchStart(3)).isEqualTo(36);
  }

  @Test
  void aGlobalBatchThatTheRanksCannotShareIsRefused() {
    assertThatThrownBy(() -> new GlobalBatches(10, 4, 1)).hasMessageContaining("not a multiple");
    assertThatThrownBy(() -> new GlobalBatches(8, 2, 0)).hasMessageContaining("must be positive");
    assertThatThrownBy(() -> new GlobalBatches(8, 2, 2).firstSample(0, 2, 0))
        .hasMessageContaining("outside");
  }

  @Test
  void aMicroBatchHoldsInputsAndTheLabelsShiftedByOne() {
    GptSamples counting =
        new GptSamples() {
          @Override
          public long size() {
            return 100;
          }

          @Override
          public int seqLength() {
            return 3;
          }

          @Override
          public void sample(long i, int[] out, int at) {
            for (int t = 0; t < 4; t++) {
              out[at + t] = (int) (10 * i + t);
            }
          }
        };
    MicroBatch mb = new MicroBatch(2, 3).load(counting, 5);
    assertThat(mb.tokens()).containsExactly(50, 51, 52, 60, 61, 62);
    assertThat(mb.targets()).containsExactly(51, 52, 53, 61, 62, 63);
  }
}
