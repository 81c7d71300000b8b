package dev.cria.board;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

import org.junit.jupiter.api.Test;

/** The smoothing against TensorBoard's formula, worked by hand on fixed inputs. */
class SmoothingTest {
  @Test
  void isTheDebiasedExponentialMovingAverageOfTensorBoard() {
    // w = 0.5: last = 0.5, 1.25, 2.125; debias = 0.5, 0.75, 0.875
    double[] s = Smoothing.debiasedEma(new double[] {1, 2, 3}, 0.5);
    assertThat(s[0]).isCloseTo(1.0, offset(1e-12));
    assertThat(s[1]).isCloseTo(1.25 / 0.75, offset(1e-12));
    assertThat(s[2]).isCloseTo(2.125 / 0.875, offset(1e-12));
    // TensorBoard's default 0.6 on a step: the first point is the data, then it approaches slowly
    double[] t = Smoothing.debiasedEma(new double[] {10, 0, 0}, 0.6);
    assertThat(t[0]).isCloseTo(10, offset(1e-12));
    assertThat(t[1]).isCloseTo(0.6 * 4 / (1 - 0.36), offset(1e-12));
    assertThat(t[2]).isCloseTo(0.36 * 4 / (1 - 0.216), offset(1e-12));
  }

  @Test
  void aNonFiniteValueStaysAndDoesNotEnterTheAverage() {
    double[] s = Smoothing.debiasedEma(new double[] {1, Double.NaN, 3}, 0.5);
    assertThat(s[1]).isNaN();
    assertThat(s[2]).isCloseTo((0.25 + 1.5) / 0.75, offset(1e-12));
  }

  @Test
  void zeroLeavesTheDataAndAConstantStaysConstant() {
    assertThat(Smoothing.debiasedEma(new double[] {3, 1, 2}, 0)).containsExactly(3, 1, 2);
    for (double v : Smoothing.debiasedEma(new double[] {7, 7, 7, 7}, 0.9)) {
      assertThat(v).isCloseTo(7, offset(1e-9));
    }
    assertThatThrownBy(() -> Smoothing.debiasedEma(new double[] {1}, 1))
        .hasMessageContaining("[0, 1)");
  }

  @Test
  void downsamplingKeepsTheEndsAndTheSpike() {
    int n = 1000;
    long[] steps = new long[n];
    double[] wall = new double[n];
    double[] values = new double[n];
    for (int i = 0; i < n; i++) {
      steps[i] = i + 1;
      wall[i] = i;
      values[i] = i == 500 ? 100 : 1;
    }
    Series s = new Series("loss", steps, wall, values).downsampled(50);
    assertThat(s.size()).isEqualTo(50);
    assertThat(s.steps()[0]).isEqualTo(1);
    assertThat(s.steps()[49]).isEqualTo(1000);
    assertThat(s.values()).contains(100.0);
    Series small = new Series("x", new long[] {1, 2}, new double[] {0, 1}, new double[] {5, 6});
    assertThat(small.downsampled(50)).isSameAs(small);
  }
}
