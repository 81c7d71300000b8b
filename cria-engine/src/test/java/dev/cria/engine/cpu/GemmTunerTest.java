package dev.cria.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.backend.TunedKernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class GemmTunerTest {
  private static Parallel two;

  @BeforeAll
  static void pool() {
    two = Parallel.create(2);
  }

  @AfterAll
  static void close() {
    two.close();
  }

  @Test
  void everyCandidateComputesTheSameBitsAsTheDefault() {
    List<Gemm.Blocking> candidates = new ArrayList<>();
    candidates.addAll(GemmTuner.grids(Gemm.DEFAULT, 2));
    candidates.addAll(GemmTuner.microkernels(Gemm.DEFAULT));
    candidates.addAll(GemmTuner.aBlocks(Gemm.DEFAULT));
    candidates.addAll(GemmTuner.bPanels(Gemm.DEFAULT));
    candidates.add(new Gemm.Blocking(6, 512, 264, 2048, 1));
    // k past one k block, m and n past the smallest A block and B panel, none a whole tile
    int m = 301;
    int n = 1100;
    int k = 700;
    Random r = new Random(5);
    try (Arena arena = Arena.ofShared()) {
      MemorySegment a = random(arena, (long) m * k, r);
      MemorySegment b = random(arena, (long) k * n, r);
      MemorySegment c0 = random(arena, (long) m * n, r);
      for (boolean ta : new boolean[] {false, true}) {
        for (boolean tb : new boolean[] {false, true}) {
          MemorySegment expected = arena.allocate(c0.byteSize(), 64).copyFrom(c0);
          call(Gemm.DEFAULT, ta, tb, m, n, k, a, b, expected);
          for (Gemm.Blocking bl : candidates) {
            MemorySegment got = arena.allocate(c0.byteSize(), 64).copyFrom(c0);
            call(bl, ta, tb, m, n, k, a, b, got);
            assertThat(got.mismatch(expected))
                .as("%s, transA %s, transB %s: first differing byte", bl.describe(2), ta, tb)
                .isEqualTo(-1L);
          }
        }
      }
    }
  }

  @Test
  void tuningGivesOneReadableChoicePerShape() {
    List<GemmShape> shapes =
        List.of(new GemmShape(false, true, 64, 96, 48), new GemmShape(true, false, 96, 48, 64));
    List<String> lines = new ArrayList<>();
    List<TunedKernel> tuned = GemmTuner.tune(two, shapes, 0.002, lines::add);
    assertThat(tuned).extracting(TunedKernel::shape).containsExactlyElementsOf(shapes);
    for (TunedKernel t : tuned) {
      Gemm.Blocking b = Gemm.Blocking.parse(t.choice(), 2);
      assertThat(b.kc()).isEqualTo(Gemm.KC_MAX);
      assertThat(b.describe(2)).isEqualTo(t.choice());
      assertThat(t.defaultGflops()).isPositive();
      assertThat(t.tunedGflops()).isPositive();
    }
    assertThat(lines).hasSize(2).allMatch(l -> l.contains("GFLOP/s"));
  }

  @Test
  void aChoiceReadsBackAndStrangeOnesAreRefused() {
    Gemm.Blocking b = new Gemm.Blocking(6, 512, 72, 2048, 2);
    assertThat(b.describe(2)).isEqualTo("mr=6 mc=72 nc=2048 grid=2x1");
    assertThat(Gemm.Blocking.parse(b.describe(2), 2)).isEqualTo(b);
    assertThat(Gemm.Blocking.parse("mr=6 mc=132 nc=1024 grid=auto", 3).gridRows()).isZero();
    assertThatThrownBy(() -> Gemm.Blocking.parse("mr=6 mc=72 nc=2048 grid=2x1", 3))
        .hasMessageContaining("not for 3 thread(s)");
    assertThatThrownBy(() -> Gemm.Blocking.parse("block=64", 2))
        .hasMessageContaining("not a cpu GEMM blocking");
    assertThatThrownBy(() -> Gemm.Blocking.parse("mr=6 mc=70 nc=1024 grid=auto", 2))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void theBackendRefusesAForeignChoiceAndKeepsItsBlockings() {
    try (CpuBackend cpu = CpuBackend.open(2)) {
      GemmShape s = new GemmShape(false, true, 8, 8, 8);
      assertThatThrownBy(() ->
              cpu.useTuned(
                  List.of(
                      new TunedKernel(s, "mr=6 mc=72 nc=512 grid=1x2", 1, 1),
                      new TunedKernel(s, "tile=128x64", 1, 1))))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("tile=128x64");
      assertThat(cpu.machine()).contains("cores").contains("-bit vectors").endsWith("2 threads");
    }
  }

  @Test
  void theMachineNamesTheModelAndHashesTheFeatures() {
    String text =
        CpuMachine.describe(
            List.of("processor\t: 0", "model name\t: Some  CPU 9000", "flags\t\t: fpu sse avx512f"),
            4,
            2);
    assertThat(text)
        .startsWith("Some CPU 9000, features ")
        .endsWith(
            ", 4 cores, "
                + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize()
                + "-bit vectors, 2 threads");
    assertThat(CpuMachine.describe(List.of("flags : fpu sse"), 4, 2))
        .isNotEqualTo(CpuMachine.describe(List.of("flags : fpu sse avx512f"), 4, 2));
  }

  private static void call(
      Gemm.Blocking bl,
      boolean ta,
      boolean tb,
      int m,
      int n,
      int k,
      MemorySegment a,
      MemorySegment b,
      MemorySegment c) {
    Gemm.sgemm(bl, two, ta, tb, m, n, k, 1.5f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0.5f, c, 0, n);
  }

  private static MemorySegment random(Arena arena, long count, Random r) {
    MemorySegment s = arena.allocate(count * Float.BYTES, 64);
    for (long i = 0; i < count; i++) {
      s.setAtIndex(ValueLayout.JAVA_FLOAT, i, r.nextFloat() - 0.5f);
    }
    return s;
  }
}
