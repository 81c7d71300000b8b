package dev.cria.engine.reference;

import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.MemorySegment;

/**
 * The linear layers of mixed precision as plain loops: every operand rounded to bf16 as it is read
 * ({@link Bf16#roundTrip}; the weights are bf16 already), each product exact in fp32, each sum
 * taken in fp32 in index order. The twin the CPU's oneDNN and Java products are tested against.
 */
final class ReferenceBf16Linear {
  private ReferenceBf16Linear() {}

  private static float rounded(MemorySegment s, long i) {
    return Bf16.roundTrip(s.getAtIndex(Floats.F32, i));
  }

  private static float weight(MemorySegment s, long i) {
    return Bf16.widen(s.getAtIndex(Bf16.LAYOUT, i));
  }

  static void forward(
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
          sum += rounded(x, xOff + (long) i * in + c) * weight(w, wOff + (long) o * in + c);
        }
        y.setAtIndex(Floats.F32, yOff + (long) i * out + o, sum);
      }
    }
  }

  static void backward(
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
          sum += rounded(dy, dyOff + (long) i * out + o) * weight(w, wOff + (long) o * in + c);
        }
        long at = dxOff + (long) i * in + c;
        dx.setAtIndex(Floats.F32, at, overwriteDx ? sum : dx.getAtIndex(Floats.F32, at) + sum);
      }
    }
    for (int o = 0; o < out; o++) {
      for (int c = 0; c < in; c++) {
        float sum = 0;
        for (int i = 0; i < n; i++) {
          sum += rounded(dy, dyOff + (long) i * out + o) * rounded(x, xOff + (long) i * in + c);
        }
        long at = dwOff + (long) o * in + c;
        dw.setAtIndex(Floats.F32, at, dw.getAtIndex(Floats.F32, at) + sum);
      }
    }
  }
}
