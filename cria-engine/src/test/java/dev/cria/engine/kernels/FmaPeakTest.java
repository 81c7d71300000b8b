package dev.cria.engine.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class FmaPeakTest {

  @Test
  void peakIsPositiveAndFinite() {
    double gflops = FmaPeak.measureGflops(Parallel.serial(), 0.1);
    assertThat(gflops).isPositive().isFinite();
  }

  @Test
  void twoThreadsBeatOne() {
    assumeTrue(Runtime.getRuntime().availableProcessors() >= 2, "needs two cores");
    try (Parallel two = Parallel.create(2)) {
      // Loose and retried: the machine may be busy with other work at any moment.
      double best = 0;
      for (int attempt = 0; attempt < 3 && best < 1.3; attempt++) {
        double one = FmaPeak.measureGflops(Parallel.serial(), 0.1);
        double both = FmaPeak.measureGflops(two, 0.1);
        best = Math.max(best, both / one);
      }
      assertThat(best).isGreaterThan(1.3);
    }
  }
}
