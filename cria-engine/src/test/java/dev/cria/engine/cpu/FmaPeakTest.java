package dev.cria.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.management.ManagementFactory;
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
    int cpus = Runtime.getRuntime().availableProcessors();
    assumeTrue(cpus >= 2, "needs two cores");
    try (Parallel two = Parallel.create(2)) {
      // Loose and retried: other work on the machine can take a core at any moment.
      double best = 0;
      for (int attempt = 0; attempt < 5 && best < 1.3; attempt++) {
        double one = FmaPeak.measureGflops(Parallel.serial(), 0.1);
        double both = FmaPeak.measureGflops(two, 0.1);
        best = Math.max(best, both / one);
      }
      if (best < 1.3) {
        double load = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        assumeTrue(
            load >= 0 && load < cpus - 0.5,
            "machine too busy to tell (load " + load + "); best ratio " + best);
      }
      assertThat(best).isGreaterThan(1.3);
    }
  }
}
