package dev.cria.engine.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What MFU is relative to: the FMA loop for fp32, the bf16 product's best rate for bf16 products
 * where the backend has one, and the rate a product's timing gives.
 */
class PeakTest {
  @Test
  void bf16ProductsAreMeasuredOnTheBf16ProductAndFp32OnesOnTheFmaLoop() {
    try (Backend cpu = Backends.open("cpu", 2)) {
      Peak fp32 = Peak.measure(cpu, DType.F32, 0.05);
      assertThat(fp32.of()).isEqualTo("the fp32 FMA peak");
      Peak bf16 = Peak.measure(cpu, DType.BF16, 0.05);
      // oneDNN where the CPU has bf16 kernels; else the Java product, which multiplies in fp32
      assertThat(bf16.of())
          .isEqualTo(
              cpu.kernels().bf16Matmul().startsWith("java")
                  ? "the fp32 FMA peak"
                  : "the bf16 product's peak");
      assertThat(bf16.gflops()).isPositive().isFinite();
    }
    System.setProperty("cria.onednn", "off");
    try (Backend java = Backends.open("cpu", 2)) {
      assertThat(java.kernels().bf16Matmul()).startsWith("java");
      // the Java product widens to fp32 and multiplies on cria's GEMM: the FMA peak bounds it
      assertThat(Peak.measure(java, DType.BF16, 0.05).of()).isEqualTo("the fp32 FMA peak");
    } finally {
      System.clearProperty("cria.onednn");
    }
    try (Backend reference = Backends.open("reference", 1)) {
      // plain loops have no bf16 product of their own: their fp32 rate stands
      assertThat(Peak.measure(reference, DType.BF16, 0.05).of()).isEqualTo("the fp32 FMA peak");
    }
  }

  @Test
  void ofTwoMeasurementsOfAPeakTheHigherStandsAndTwoPeaksDoNotMix() {
    Peak slow = new Peak(380, "the bf16 product's peak");
    Peak fast = new Peak(410, "the bf16 product's peak");
    assertThat(slow.higher(fast)).isSameAs(fast);
    assertThat(fast.higher(slow)).isSameAs(fast);
    assertThatThrownBy(() -> slow.higher(new Peak(230, "the fp32 FMA peak")))
        .hasMessage("two different peaks: the bf16 product's peak and the fp32 FMA peak");
  }

  @Test
  void theProductsPeakIsTwiceTheCubeOfItsSideOverItsBestTime() {
    List<GemmShape> shapes = new ArrayList<>();
    Bf16Matmul slow =
        new Bf16Matmul() {
          @Override
          public String description() {
            return "20 ms a product";
          }

          @Override
          public void multiply(
              GemmShape shape,
              MemorySegment a,
              long aOff,
              MemorySegment b,
              long bOff,
              MemorySegment c,
              long cOff,
              boolean accumulate) {
            shapes.add(shape);
            try {
              Thread.sleep(20);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }

          @Override
          public void close() {}
        };
    double gflops = slow.measurePeakGflops(0.1);
    double side = Bf16Matmul.PEAK_SIZE;
    double atMost = 2 * side * side * side / 20e6; // FLOP per ns = GFLOP/s, at 20 ms a product
    assertThat(gflops).isLessThanOrEqualTo(atMost).isGreaterThan(atMost / 10);
    assertThat(shapes).hasSizeGreaterThanOrEqualTo(2); // one untimed, then timed ones
    assertThat(shapes)
        .allMatch(s -> s.equals(new GemmShape(false, false, 2048, 2048, 2048)))
        .as("a square product of PEAK_SIZE");
  }

  @Test
  void aPeakIsAPositiveRate() {
    assertThatThrownBy(() -> new Peak(0, "nothing")).hasMessageContaining("positive rate");
    assertThatThrownBy(() -> new Peak(Double.NaN, "nothing")).hasMessageContaining("positive");
  }
}
