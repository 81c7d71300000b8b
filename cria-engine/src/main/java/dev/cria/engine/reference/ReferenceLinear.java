package dev.cria.engine.reference;

import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.MemorySegment;

/**
 * The linear layers as plain loops, in fp32 and in mixed precision alike: how an operand's element
 * is read ({@link Element}) is all that differs. Each product is taken in fp32 and each sum in fp32
 * in index order; in mixed precision the activations are rounded to bf16 as they are read and the
 * weights are bf16 already, so every product is exact. The twin the CPU's GEMM, oneDNN and the Java
 * bf16 product are tested against.
 */
final class ReferenceLinear {
  private ReferenceLinear() {}

  /** How the loops read element {@code i} of an operand. */
  @FunctionalInterface
  interface Element {
    float at(MemorySegment s, long i);
  }

  /** An fp32 element as it is. */
  static final Element FP32 = (s, i) -> s.getAtIndex(Floats.F32, i);

  /** An fp32 element rounded to bf16 ({@link Bf16#roundTrip}). */
  static final Element ROUNDED = (s, i) -> Bf16.roundTrip(s.getAtIndex(Floats.F32, i));

  /** A bf16 element, widened. */
  static final Element BF16 = (s, i) -> Bf16.widen(s.getAtIndex(Bf16.LAYOUT, i));

  /** {@code y = x w^T}, x read as {@code xs}, w as {@code ws}. */
  static void forward(
      Element xs,
      Element ws,
      MemorySegment y,
      long yOff,
      MemorySegment x,
      long xOff,
      MemorySegment w,
      long wOff,
      int n,
      int in,
      int out) {
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < out; o++) {
        float sum = 0;
        for (int c = 0; c < in; c++) {
          sum += xs.at(x, xOff + (long) i * in + c) * ws.at(w, wOff + (long) o * in + c);
        }
        y.setAtIndex(Floats.F32, yOff + (long) i * out + o, sum);
      }
    }
  }

  /**
   * {@code dx (+)= dy w} and {@code dw += dy^T x}, dy and x read as {@code acts}, w as {@code ws}.
   */
  static void backward(
      Element acts,
      Element ws,
      MemorySegment dx,
      long dxOff,
      boolean overwriteDx,
      MemorySegment dw,
      long dwOff,
      MemorySegment dy,
      long dyOff,
      MemorySegment x,
      long xOff,
      MemorySegment w,
      long wOff,
      int n,
      int in,
      int out) {
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < in; c++) {
        float sum = 0;
        for (int o = 0; o < out; o++) {
          sum += acts.at(dy, dyOff + (long) i * out + o) * ws.at(w, wOff + (long) o * in + c);
        }
        long at = dxOff + (long) i * in + c;
        dx.setAtIndex(Floats.F32, at, overwriteDx ? sum : dx.getAtIndex(Floats.F32, at) + sum);
      }
    }
    for (int o = 0; o < out; o++) {
      for (int c = 0; c < in; c++) {
        float sum = 0;
        for (int i = 0; i < n; i++) {
          sum += acts.at(dy, dyOff + (long) i * out + o) * acts.at(x, xOff + (long) i * in + c);
        }
        long at = dwOff + (long) o * in + c;
        dw.setAtIndex(Floats.F32, at, dw.getAtIndex(Floats.F32, at) + sum);
      }
    }
  }
}
