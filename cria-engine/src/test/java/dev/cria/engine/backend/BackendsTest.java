package dev.cria.engine.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import org.junit.jupiter.api.Test;

class BackendsTest {
  @Test
  void theServiceLoaderFindsCpuAndReferenceAndAutoPrefersCpu() {
    assertThat(Backends.names()).containsExactly("auto", "cpu", "reference");
    try (Backend auto = Backends.open(Backends.AUTO, 1);
        Backend nameless = Backends.open(null, 1)) {
      assertThat(auto.name()).isEqualTo("cpu");
      assertThat(nameless.name()).isEqualTo("cpu");
    }
  }

  @Test
  void aBackendIsOpenedWithTheThreadsAskedForOrOnePerCore() {
    try (Backend two = Backends.open("cpu", 2);
        Backend all = Backends.open("cpu", 0);
        Backend reference = Backends.open("reference", 4)) {
      assertThat(two.threads()).isEqualTo(2);
      assertThat(two.description()).startsWith("cpu(2 threads");
      assertThat(all.threads()).isEqualTo(Runtime.getRuntime().availableProcessors());
      assertThat(reference.threads()).isEqualTo(1);
    }
  }

  @Test
  void anUnknownNameIsRefusedNamingTheKnownOnes() {
    assertThatThrownBy(() -> Backends.open("cuda", 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("no backend named 'cuda'; the backends are auto, cpu, reference");
  }

  @Test
  void buffersAreZeroedAndLongSized() {
    try (Backend cpu = Backends.open("cpu", 1);
        Buffers buffers = cpu.buffers()) {
      Floats f = buffers.allocate(1000);
      assertThat(f.length()).isEqualTo(1000);
      assertThat(f.toArray(0, 1000)).containsOnly(0f);
      assertThat(f.segment().address() % 64).isZero();
    }
    try (Buffers buffers = new HostBuffers()) {
      assertThatThrownBy(() -> buffers.allocate(-1)).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void everyBackendMeasuresAPositivePeak() {
    for (String name : new String[] {"cpu", "reference"}) {
      try (Backend b = Backends.open(name, 1)) {
        assertThat(b.measurePeakGflops(0.05)).as(name).isPositive().isFinite();
      }
    }
  }

  @Test
  void aProfiledBackendTimesItsKernelsAndLeavesTheWrappedOneOpen() {
    try (Backend cpu = Backends.open("cpu", 1)) {
      ProfiledBackend profiled = new ProfiledBackend(cpu);
      try (Buffers buffers = profiled.buffers()) {
        Floats x = buffers.allocate(64);
        profiled.kernels().scale(View.of(x, 0), 64, 2f);
      }
      profiled.close();
      assertThat(profiled.timings().seconds().get(TimedKernels.Op.ELEMENTWISE)).isPositive();
      assertThat(cpu.kernels().sumOfSquares(View.of(Floats.of(3f), 0), 1)).isEqualTo(9.0);
    }
  }
}
