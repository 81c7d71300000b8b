package dev.cria.engine.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.tensor.View;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Both kernel sets check the dtype of every operand: a view of the wrong one is refused with a
 * message that names the operand and the dtype it got, before a number is read or written.
 */
class KernelDTypeTest {
  static final int FLOATS = 256;
  static final MemorySegment BUFFER = MemorySegment.ofArray(new float[FLOATS]);

  /** {@code call} on the reference and the CPU kernels throws {@code message}; nothing changed. */
  static void refused(String message, Consumer<Kernels> call) {
    for (String name : new String[] {"reference", "cpu"}) {
      try (Backend backend = Backends.open(name, 1)) {
        float[] before = buffer().toArray(ValueLayout.JAVA_FLOAT);
        Kernels kernels = backend.kernels();
        assertThatThrownBy(() -> call.accept(kernels))
            .as(name)
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessage(message);
        assertThat(BUFFER.toArray(ValueLayout.JAVA_FLOAT)).as(name).containsExactly(before);
      }
    }
  }

  /** The shared buffer, filled with 0, 1, 2, ... */
  static MemorySegment buffer() {
    for (int i = 0; i < FLOATS; i++) {
      BUFFER.setAtIndex(ValueLayout.JAVA_FLOAT, i, i);
    }
    return BUFFER;
  }

  static View f32(long offset) {
    return View.f32(BUFFER, offset);
  }

  static View bf16(long offset) {
    return View.bf16(BUFFER, offset);
  }

  @Test
  void linearForwardRefusesABf16Output() {
    refused("y must be f32, got bf16", k -> k.linearForward(bf16(0), f32(100), f32(200), 2, 3, 4));
  }

  @Test
  void linearLayersTakeBf16InputsOnlyAgainstBf16WeightsAndWriteF32() {
    refused("x must be f32, got bf16", k -> k.linearForward(f32(0), bf16(100), f32(200), 2, 3, 4));
    refused(
        "x must be f32, got bf16",
        k -> k.linearBackward(f32(0), true, f32(50), f32(100), bf16(300), f32(200), 2, 3, 4));
    refused(
        "dy must be f32, got bf16",
        k -> k.linearBackward(f32(0), true, f32(50), bf16(200), f32(150), f32(220), 2, 3, 4));
    refused(
        "dx must be f32, got bf16",
        k -> k.linearBackward(bf16(0), true, f32(50), f32(100), f32(150), bf16(200), 2, 3, 4));
    refused(
        "dw must be f32, got bf16",
        k -> k.linearBackward(f32(0), true, bf16(50), f32(100), f32(150), bf16(200), 2, 3, 4));
  }

  @Test
  void theSlicedSoftmaxKernelsTakeF32Only() {
    refused(
        "logits must be f32, got bf16",
        k -> k.softmaxStatistics(f32(0), f32(10), f32(20), bf16(100), ids(0, 1), 2, 4));
    refused(
        "targetLogits must be f32, got bf16",
        k -> k.softmaxStatistics(f32(0), f32(10), bf16(20), f32(100), ids(0, 1), 2, 4));
    refused(
        "sums must be f32, got bf16",
        k -> k.softmaxGradient(f32(100), f32(0), bf16(10), ids(0, 1), 2, 4, 1f));
  }

  @Test
  void tokensAndTargetsAreI32AndNoFloatOperandIs() {
    refused(
        "tokens must be i32, got f32", k -> k.embeddingForward(f32(0), f32(100), f32(200), 2, 4));
    refused(
        "tokens must be i32, got f32", k -> k.embeddingBackward(f32(0), f32(100), f32(200), 2, 4));
    refused("targets must be i32, got f32", k -> k.crossEntropy(f32(0), f32(100), 2, 4, 1f));
    refused(
        "targets must be i32, got bf16",
        k -> k.softmaxGradient(f32(100), f32(0), f32(10), bf16(200), 2, 4, 1f));
    refused(
        "targets must be i32, got f32",
        k -> k.softmaxStatistics(f32(0), f32(10), f32(20), f32(100), f32(200), 2, 4));
    refused(
        "table must be f32, got i32",
        k -> k.embeddingForward(f32(0), View.i32(BUFFER, 100), ids(0, 1), 2, 4));
    refused("x must be f32, got i32", k -> k.scale(View.i32(BUFFER, 0), 8, 2f));
    refused(
        "dLogits must be bf16, got f32",
        k -> k.crossEntropy(f32(100), f32(0), ids(0, 1), 2, 4, 1f));
  }

  @Test
  void roundToBf16RefusesAnF32DestinationAndABf16Source() {
    refused("dst must be bf16, got f32", k -> k.roundToBf16(f32(0), f32(100), 8));
    refused("src must be f32, got bf16", k -> k.roundToBf16(bf16(0), bf16(200), 8));
  }

  @Test
  void widenBf16RefusesAnF32SourceAndABf16Destination() {
    refused("src must be bf16, got f32", k -> k.widenBf16(f32(0), f32(100), 8));
    refused("dst must be f32, got bf16", k -> k.widenBf16(bf16(0), bf16(200), 8));
  }

  @Test
  void kernelsWithoutABf16PathRefuseBf16Operands() {
    refused(
        "w must be f32, got bf16",
        k -> k.rmsNormForward(f32(0), f32(50), f32(100), bf16(300), 2, 4, 1e-5f));
    refused(
        "k must be f32, got bf16",
        k ->
            k.attentionForward(
                f32(0), f32(50), f32(100), bf16(300), f32(150), new AttentionShape(1, 2, 1, 1, 4)));
    refused("w must be f32, got bf16", k -> k.matVec(f32(0), bf16(100), f32(200), 2, 4, false));
    refused(
        "m must be f32, got bf16",
        k ->
            k.adamw(f32(0), f32(50), bf16(200), f32(150), 8, new AdamWUpdate(1, 1, 1, 1, 1, 1, 1)));
    refused("x must be f32, got bf16", k -> k.scale(bf16(0), 8, 2f));
    refused("x must be f32, got bf16", k -> k.roundBf16Stochastic(bf16(0), 8, 1, 0));
  }

  /** {@code values} as an i32 view (a heap segment: the host kernels read it as any other). */
  static View ids(int... values) {
    return View.i32(MemorySegment.ofArray(values), 0);
  }
}
