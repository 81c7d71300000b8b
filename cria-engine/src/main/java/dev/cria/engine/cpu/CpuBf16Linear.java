package dev.cria.engine.cpu;

import dev.cria.engine.backend.Bf16Matmul;
import dev.cria.engine.backend.Bf16MatmulProvider;
import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;

/**
 * The linear layers of mixed precision on the CPU, which {@link CpuKernels} runs when the weights
 * are bf16: the fp32 activations (and, backward, their gradients) rounded to bf16 into scratch
 * (inputs the model already keeps in bf16 are taken as they are), multiplied with the bf16 copy of
 * the weights by a {@link Bf16Matmul}, the results and the weight gradients kept in fp32. That is
 * what PyTorch's bf16 autocast does around a linear layer, and Megatron's bf16 with fp32 gradient
 * accumulation.
 *
 * <p>The product is oneDNN's when a {@link Bf16MatmulProvider} opens (AMX or AVX512_BF16, as oneDNN
 * chooses), else {@link JavaBf16Matmul}; {@link #matmul()} says which and why. {@code
 * CRIA_ONEDNN=off} in the environment (or {@code -Dcria.onednn=off}) forces the Java one. Opened on
 * first use, so fp32 runs never load a native library.
 */
final class CpuBf16Linear implements AutoCloseable {
  private final Parallel parallel;
  private Bf16Matmul matmul;
  private final GrowingSegment inputs = new GrowingSegment(); // x, or dy in the backward pass
  private final GrowingSegment saved = new GrowingSegment(); // x in the backward pass

  CpuBf16Linear(Parallel parallel) {
    this.parallel = parallel;
  }

  /** With a given product (tests: the Java one and oneDNN side by side). */
  CpuBf16Linear(Parallel parallel, Bf16Matmul matmul) {
    this.parallel = parallel;
    this.matmul = matmul;
  }

  /** The product, opened now if it was not yet. */
  synchronized Bf16Matmul matmul() {
    if (matmul == null) {
      matmul = open(parallel);
    }
    return matmul;
  }

  /** The first provider that opens, else the Java product with the reason. */
  static Bf16Matmul open(Parallel parallel) {
    String switchedOff = switchedOff();
    if (switchedOff != null) {
      return new JavaBf16Matmul(parallel, "oneDNN switched off by " + switchedOff);
    }
    List<String> failures = new ArrayList<>();
    for (Bf16MatmulProvider provider : ServiceLoader.load(Bf16MatmulProvider.class)) {
      try {
        return provider.open(parallel.threads());
      } catch (RuntimeException | LinkageError e) {
        failures.add(provider.name() + " did not open: " + e.getMessage());
      }
    }
    return new JavaBf16Matmul(
        parallel,
        failures.isEmpty()
            ? "no native bf16 library on the class path"
            : String.join("; ", failures));
  }

  private static String switchedOff() {
    String property = System.getProperty("cria.onednn");
    if (property != null && property.strip().toLowerCase(Locale.ROOT).equals("off")) {
      return "-Dcria.onednn=off";
    }
    String env = System.getenv("CRIA_ONEDNN");
    if (env != null && env.strip().toLowerCase(Locale.ROOT).equals("off")) {
      return "CRIA_ONEDNN=off";
    }
    return null;
  }

  /** {@code y = x w^T}: {@code x} rounded to bf16, {@code w} bf16, {@code y} fp32. */
  void forward(View y, View x, View w, int n, int in, int out) {
    Bf16Matmul product = matmul();
    View xb = asBf16(x, inputs, (long) n * in, "x");
    product.multiply(
        GemmShape.LinearProduct.FORWARD.shape(n, in, out),
        xb.buffer(),
        xb.offset(),
        w.buffer(),
        w.offset(),
        y.buffer(),
        y.offset(),
        false);
  }

  /**
   * {@code dx (+)= dy w} and {@code dw += dy^T x}: {@code dy} and {@code x} rounded to bf16, {@code
   * w} bf16, {@code dx} and {@code dw} fp32.
   */
  void backward(
      View dx, boolean overwriteDx, View dw, View dy, View x, View w, int n, int in, int out) {
    Bf16Matmul product = matmul();
    View dyb = asBf16(dy, inputs, (long) n * out, "dy");
    View xb = asBf16(x, saved, (long) n * in, "x");
    product.multiply(
        GemmShape.LinearProduct.INPUT_GRADIENT.shape(n, in, out),
        dyb.buffer(),
        dyb.offset(),
        w.buffer(),
        w.offset(),
        dx.buffer(),
        dx.offset(),
        !overwriteDx);
    product.multiply(
        GemmShape.LinearProduct.WEIGHT_GRADIENT.shape(n, in, out),
        dyb.buffer(),
        dyb.offset(),
        xb.buffer(),
        xb.offset(),
        dw.buffer(),
        dw.offset(),
        true);
  }

  /**
   * {@code x} as bf16: itself when it is bf16 already (an input the model keeps in bf16), else its
   * {@code count} elements rounded into {@code scratch}.
   */
  private View asBf16(View x, GrowingSegment scratch, long count, String operand) {
    if (x.dtype() == DType.BF16) {
      return x;
    }
    MemorySegment rounded = scratch.atLeast(count * Bf16.BYTES);
    Bf16Vectors.round(
        parallel, rounded, 0, x.require(DType.F32, operand).buffer(), x.offset(), count);
    return View.bf16(rounded, 0);
  }

  @Override
  public synchronized void close() {
    if (matmul != null) {
      matmul.close();
    }
    inputs.close();
    saved.close();
  }
}
