package dev.cria.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Kernels;
import dev.cria.engine.reference.ReferenceKernels;
import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.View;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The activations mixed precision keeps in bf16 (a norm's output, SwiGLU's): the kernels that make
 * them write exactly their fp32 result rounded to bf16, and the linear layers given such an input
 * (or output gradient) compute bit for bit what they compute from the fp32 one they would round. On
 * the reference kernels and on the CPU's with 1 and 3 threads, at sizes that leave vector tails.
 */
class Bf16ActivationsTest {
  private static final int[][] ROWS = {{7, 45}, {1, 1}, {33, 130}, {4, 512}}; // n, d

  static Arena arena;
  static Parallel one;
  static Parallel three;
  static List<Kernels> all;
  final Random random = new Random(5);

  @BeforeAll
  static void start() {
    arena = Arena.ofShared();
    one = Parallel.create(1);
    three = Parallel.create(3);
    all =
        List.of(
            new ReferenceKernels(),
            new CpuKernels(one), // the bf16 product whichever opens (the Java one in this module)
            new CpuKernels(three));
  }

  @AfterAll
  static void stop() {
    for (Kernels k : all) {
      if (k instanceof CpuKernels cpu) {
        cpu.close();
      }
    }
    three.close();
    one.close();
    arena.close();
  }

  MemorySegment gaussian(long n) {
    MemorySegment s = arena.allocate(n * Float.BYTES, 64);
    for (long i = 0; i < n; i++) {
      s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (random.nextGaussian() * 2));
    }
    return s;
  }

  /** {@code floats} rounded to bf16 as {@link Bf16#round(float)} does, one by one. */
  static short[] rounded(MemorySegment floats, long count) {
    short[] out = new short[Math.toIntExact(count)];
    for (int i = 0; i < out.length; i++) {
      out[i] = Bf16.round(floats.getAtIndex(ValueLayout.JAVA_FLOAT, i));
    }
    return out;
  }

  /**
   * What {@code kernel} writes to a bf16 output (at an odd offset) is its fp32 output rounded,
   * element by element.
   */
  void writesItsFp32ResultRounded(long count, Function<View, Runnable> kernel) {
    MemorySegment fp32 = arena.allocate(count * Float.BYTES, 64);
    kernel.apply(View.f32(fp32, 0)).run();
    MemorySegment bf16 = arena.allocate((count + 3) * Bf16.BYTES, 64);
    kernel.apply(View.bf16(bf16, 3)).run();
    short[] got = bf16.asSlice(3L * Bf16.BYTES).toArray(ValueLayout.JAVA_SHORT);
    assertThat(got).hasSize(Math.toIntExact(count)).containsExactly(rounded(fp32, count));
  }

  @Test
  void normAndSwigluBothWaysWriteTheirFp32ResultRoundedToBf16() {
    for (Kernels k : all) {
      for (int[] shape : ROWS) {
        int n = shape[0];
        int d = shape[1];
        MemorySegment x = gaussian((long) n * d);
        MemorySegment w = gaussian(d);
        MemorySegment rstd = arena.allocate((long) n * Float.BYTES, 64);
        writesItsFp32ResultRounded(
            (long) n * d,
            out ->
                () ->
                    k.rmsNormForward(
                        out, View.f32(rstd, 0), View.f32(x, 0), View.f32(w, 0), n, d, 1e-5f));
        MemorySegment gate = gaussian((long) n * d);
        MemorySegment up = gaussian((long) n * d);
        writesItsFp32ResultRounded(
            (long) n * d,
            h -> () -> k.swigluForward(h, View.f32(gate, 0), View.f32(up, 0), (long) n * d));
        MemorySegment dh = gaussian((long) n * d);
        MemorySegment other = arena.allocate((long) n * d * Float.BYTES, 64);
        writesItsFp32ResultRounded(
            (long) n * d,
            dGate ->
                () ->
                    k.swigluBackward(
                        dGate,
                        View.f32(other, 0),
                        View.f32(dh, 0),
                        View.f32(gate, 0),
                        View.f32(up, 0),
                        (long) n * d));
        writesItsFp32ResultRounded(
            (long) n * d,
            dUp ->
                () ->
                    k.swigluBackward(
                        View.f32(other, 0),
                        dUp,
                        View.f32(dh, 0),
                        View.f32(gate, 0),
                        View.f32(up, 0),
                        (long) n * d));
      }
    }
  }

  @Test
  void linearLayersGivenBf16InputsComputeWhatTheyComputeFromTheirFp32Originals() {
    for (Kernels k : all) {
      for (int[] shape : new int[][] {{7, 45, 29}, {1, 1, 1}, {33, 130, 17}}) {
        int n = shape[0];
        int in = shape[1];
        int out = shape[2];
        MemorySegment x = gaussian((long) n * in);
        MemorySegment xb = arena.allocate((long) n * in * Bf16.BYTES, 64);
        k.roundToBf16(View.bf16(xb, 0), View.f32(x, 0), (long) n * in);
        MemorySegment w = arena.allocate((long) out * in * Bf16.BYTES, 64);
        k.roundToBf16(View.bf16(w, 0), View.f32(gaussian((long) out * in), 0), (long) out * in);
        MemorySegment dy = gaussian((long) n * out);
        MemorySegment dyb = arena.allocate((long) n * out * Bf16.BYTES, 64);
        k.roundToBf16(View.bf16(dyb, 0), View.f32(dy, 0), (long) n * out);
        MemorySegment dwStart = gaussian((long) out * in);
        List<float[]> results = new ArrayList<>();
        for (boolean bf16 : new boolean[] {false, true}) {
          View input = bf16 ? View.bf16(xb, 0) : View.f32(x, 0);
          View gradient = bf16 ? View.bf16(dyb, 0) : View.f32(dy, 0);
          MemorySegment y = arena.allocate((long) n * out * Float.BYTES, 64);
          MemorySegment dx = arena.allocate((long) n * in * Float.BYTES, 64);
          MemorySegment dw = arena.allocate(dwStart.byteSize(), 64).copyFrom(dwStart);
          k.linearForward(View.f32(y, 0), input, View.bf16(w, 0), n, in, out);
          k.linearBackward(
              View.f32(dx, 0), true, View.f32(dw, 0), gradient, input, View.bf16(w, 0), n, in, out);
          results.add(y.toArray(ValueLayout.JAVA_FLOAT));
          results.add(dx.toArray(ValueLayout.JAVA_FLOAT));
          results.add(dw.toArray(ValueLayout.JAVA_FLOAT));
        }
        assertThat(results.get(3)).as("y").containsExactly(results.get(0));
        assertThat(results.get(4)).as("dx").containsExactly(results.get(1));
        assertThat(results.get(5)).as("dw").containsExactly(results.get(2));
        assertThat(results.get(5))
            .as("dw accumulated")
            .isNotEqualTo(dwStart.toArray(ValueLayout.JAVA_FLOAT));
      }
    }
  }
}
