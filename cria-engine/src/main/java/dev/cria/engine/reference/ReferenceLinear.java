package dev.cria.engine.reference;

import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;

/**
 * The linear layers as plain loops, in fp32 and in mixed precision alike: the dtype of the weights
 * picks how each operand's element is read ({@link Element}), and that is all that differs. Each
 * product is taken in fp32 and each sum in fp32 in index order; in mixed precision the activations
 * are rounded to bf16 as they are read (or are bf16 already: the inputs the model keeps in bf16)
 * and the weights are bf16 already, so every product is exact. The twin the CPU's GEMM, oneDNN and
 * the Java bf16 product are tested against.
 */
final class ReferenceLinear {
  private ReferenceLinear() {}

  /** How the loops read element {@code i} of an operand. */
  @FunctionalInterface
  private interface Element {
    float at(MemorySegment s, long i);
  }

  /** An fp32 element as it is. */
  private static final Element FP32 = (s, i) -> s.getAtIndex(Floats.F32, i);

  /** An fp32 element rounded to bf16 ({@link Bf16#roundTrip}). */
  private static final Element ROUNDED = (s, i) -> Bf16.roundTrip(s.getAtIndex(Floats.F32, i));

  /** A bf16 element, widened. */
  private static final Element BF16 = (s, i) -> Bf16.widen(s.getAtIndex(Bf16.LAYOUT, i));

  /**
   * How the activation {@code operand} ({@code view}) is read against weights of {@code weights}:
   * fp32 as it is against fp32 weights (which take no other); against bf16 weights rounded to bf16,
   * or widened when it is bf16 already (the inputs the model keeps in bf16).
   */
  private static Element activations(DType weights, View view, String operand) {
    return switch (weights) {
      case F32 -> {
        view.require(DType.F32, operand);
        yield FP32;
      }
      case BF16 ->
          switch (view.dtype()) {
            case F32 -> ROUNDED;
            case BF16 -> BF16;
            case I32 ->
                throw new IllegalArgumentException(operand + " must be f32 or bf16, got i32");
          };
      case I32 -> throw new IllegalArgumentException("w must be f32 or bf16, got i32");
    };
  }

  /** How the weights are read. */
  private static Element weights(DType weights) {
    return switch (weights) {
      case F32 -> FP32;
      case BF16 -> BF16;
      case I32 -> throw new IllegalArgumentException("w must be f32 or bf16, got i32");
    };
  }

  /** {@code y = x w^T}, in the precision of {@code w}. */
  static void forward(View yView, View xView, View wView, int n, int in, int out) {
    Element xs = activations(wView.dtype(), xView, "x");
    Element ws = weights(wView.dtype());
    MemorySegment y = yView.buffer();
    long yOff = yView.offset();
    MemorySegment x = xView.buffer();
    long xOff = xView.offset();
    MemorySegment w = wView.buffer();
    long wOff = wView.offset();
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

  /** {@code dx (+)= dy w} and {@code dw += dy^T x}, in the precision of {@code w}. */
  static void backward(
      View dxView,
      boolean overwriteDx,
      View dwView,
      View dyView,
      View xView,
      View wView,
      int n,
      int in,
      int out) {
    Element xs = activations(wView.dtype(), xView, "x");
    Element dys = activations(wView.dtype(), dyView, "dy");
    Element ws = weights(wView.dtype());
    MemorySegment dx = dxView.buffer();
    long dxOff = dxView.offset();
    MemorySegment dw = dwView.buffer();
    long dwOff = dwView.offset();
    MemorySegment dy = dyView.buffer();
    long dyOff = dyView.offset();
    MemorySegment x = xView.buffer();
    long xOff = xView.offset();
    MemorySegment w = wView.buffer();
    long wOff = wView.offset();
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < in; c++) {
        float sum = 0;
        for (int o = 0; o < out; o++) {
          sum += dys.at(dy, dyOff + (long) i * out + o) * ws.at(w, wOff + (long) o * in + c);
        }
        long at = dxOff + (long) i * in + c;
        dx.setAtIndex(Floats.F32, at, overwriteDx ? sum : dx.getAtIndex(Floats.F32, at) + sum);
      }
    }
    for (int o = 0; o < out; o++) {
      for (int c = 0; c < in; c++) {
        float sum = 0;
        for (int i = 0; i < n; i++) {
          sum += dys.at(dy, dyOff + (long) i * out + o) * xs.at(x, xOff + (long) i * in + c);
        }
        long at = dwOff + (long) o * in + c;
        dw.setAtIndex(Floats.F32, at, dw.getAtIndex(Floats.F32, at) + sum);
      }
    }
  }
}
