package dev.cria.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class FmaPeakTest {

  @Test
  void peakIsPositiveAndFinite() {
    double gflops = FmaPeak.measureGflops(Parallel.serial(), 0.1);
    assertThat(gflops).isPositive().isFinite();
  }

  // How the peak grows with threads is measured, not asserted: cria-bench's FmaPeakMain prints
  // it for 1 .. N threads.
}
