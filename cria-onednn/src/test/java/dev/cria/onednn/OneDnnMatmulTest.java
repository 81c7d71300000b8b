package dev.cria.onednn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class OneDnnMatmulTest {
  private static OneDnnMatmul matmul;
  private static IllegalStateException refused;

  @BeforeAll
  static void open() {
    try {
      matmul = OneDnnMatmul.open(2);
    } catch (IllegalStateException e) {
      refused = e; // a CPU without bf16 kernels: opensExactlyWhereTheCpuHasBf16Kernels says so
    }
  }

  @AfterAll
  static void close() {
    if (matmul != null) {
      matmul.close();
    }
  }

  /** The product's tests need oneDNN's bf16 kernels, which a CPU with only AVX2 lacks. */
  private static void requireKernels() {
    if (matmul == null) { // a library that does not load is a failure, never a skip
      assertThat(refused).hasMessageStartingWith("oneDNN has no bf16 matmul for this CPU");
    }
    assumeTrue(
        matmul != null,
        () -> "skipped: no oneDNN bf16 matmul on this CPU: " + refused.getMessage());
  }

  private static java.util.Set<String> cpuFlags() throws java.io.IOException {
    for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/cpuinfo"))) {
      if (line.startsWith("flags")) {
        return java.util.Set.of(line.substring(line.indexOf(':') + 1).strip().split("\\s+"));
      }
    }
    return java.util.Set.of();
  }

  /**
   * oneDNN opens where the CPU has bf16 instructions (AVX512_BF16 or AMX), and where it has no
   * AVX-512 at all (AVX2 only: no bf16 kernel) it is refused with a reason the engine passes on
   * when it falls back to its Java product. Between the two (AVX-512 without bf16) oneDNN emulates
   * bf16 and either may hold.
   */
  @Test
  void opensExactlyWhereTheCpuHasBf16Kernels() throws java.io.IOException {
    java.util.Set<String> flags = cpuFlags();
    if (flags.contains("avx512_bf16") || flags.contains("amx_bf16")) {
      assertThat(refused).as("oneDNN on a CPU with bf16 instructions").isNull();
    } else if (!flags.contains("avx512f")) {
      assertThat(matmul).as("oneDNN on a CPU without AVX-512").isNull();
      assertThat(refused).hasMessageStartingWith("oneDNN has no bf16 matmul for this CPU");
    }
    if (matmul == null) { // AVX-512 without bf16 instructions: no kernel, said so, or one
      assertThat(refused.getMessage())
          .matches("oneDNN has (no bf16 matmul for this CPU|only its reference bf16 matmul).*");
    }
  }

  /** Random bf16 values in [-1, 1), {@code pad} elements before them (an offset to honour). */
  private static MemorySegment bf16(Arena arena, SplittableRandom r, int pad, long count) {
    MemorySegment s = arena.allocate((pad + count) * Bf16.BYTES, 64);
    for (long i = 0; i < pad + count; i++) {
      s.setAtIndex(Bf16.LAYOUT, i, Bf16.round((float) (2 * r.nextDouble() - 1)));
    }
    return s;
  }

  private static float at(MemorySegment bf16, long i) {
    return Bf16.widen(bf16.getAtIndex(Bf16.LAYOUT, i));
  }

  /** op(A) op(B) in double: each product of bf16 values is exact, only the sum's order differs. */
  private static double expected(
      GemmShape s, MemorySegment a, int aOff, MemorySegment b, int bOff, int i, int j) {
    double sum = 0;
    for (int p = 0; p < s.k(); p++) {
      float x =
          s.transA() ? at(a, aOff + (long) p * s.m() + i) : at(a, aOff + (long) i * s.k() + p);
      float y =
          s.transB() ? at(b, bOff + (long) j * s.k() + p) : at(b, bOff + (long) p * s.n() + j);
      sum += (double) x * y;
    }
    return sum;
  }

  @ParameterizedTest(name = "{0}{1} {2}x{3}x{4} accumulate={5}")
  @CsvSource({
    "false, true, 37, 29, 41, false",
    "false, false, 37, 29, 41, false",
    "true, false, 37, 29, 41, false",
    "true, true, 5, 70, 3, false",
    "false, true, 64, 48, 96, true",
    "true, false, 48, 64, 33, true",
    "false, false, 1, 1, 1, true"
  })
  void multipliesLikeExactProductsSummedInFp32(
      boolean transA, boolean transB, int m, int n, int k, boolean accumulate) {
    requireKernels();
    GemmShape shape = new GemmShape(transA, transB, m, n, k);
    SplittableRandom r = new SplittableRandom(m * 31L + n * 7L + k);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment a = bf16(arena, r, 3, (long) m * k);
      MemorySegment b = bf16(arena, r, 5, (long) k * n);
      Floats c = Floats.allocate(arena, 2 + (long) m * n);
      float[] before = new float[m * n];
      for (int i = 0; i < before.length; i++) {
        before[i] = (float) r.nextDouble();
        c.set(2 + i, before[i]);
      }
      matmul.multiply(shape, a, 3, b, 5, c.segment(), 2, accumulate);
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          double want = expected(shape, a, 3, b, 5, i, j) + (accumulate ? before[i * n + j] : 0);
          assertThat((double) c.get(2 + (long) i * n + j))
              .as("C[%d,%d] of %s", i, j, shape)
              .isCloseTo(want, org.assertj.core.data.Offset.offset(1e-5 * k + 1e-6));
        }
      }
    }
  }

  @Test
  void namesTheLibraryAndTheKernelItChose() {
    requireKernels();
    assertThat(matmul.version()).matches("3\\.\\d+\\.\\d+");
    assertThat(matmul.description()).startsWith("oneDNN " + matmul.version() + " (");
    assertThat(matmul.implementation(new GemmShape(false, true, 128, 128, 128)))
        .doesNotStartWith("ref");
  }

  @Test
  void refusesOperandsOutsideTheirBuffers() {
    requireKernels();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment a = arena.allocate(16 * Bf16.BYTES);
      MemorySegment c = arena.allocate(16 * Float.BYTES);
      GemmShape shape = new GemmShape(false, false, 4, 4, 4);
      assertThatThrownBy(() -> matmul.multiply(shape, a, 1, a, 0, c, 0, false))
          .isInstanceOf(IndexOutOfBoundsException.class)
          .hasMessageContaining("A: 16 elements at 1");
      assertThatThrownBy(() ->
              matmul.multiply(shape, MemorySegment.ofArray(new short[16]), 0, a, 0, c, 0, false))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("native memory");
    }
  }
}
