package dev.cria.engine.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The memory operations of the seam on the host: what the model, the optimizer and the decoder do
 * to memory instead of touching it, each against the plain loops of {@link Bf16} and of arrays.
 */
class HostBuffersTest {
  /** Floats of every kind a conversion meets: signs, ties, subnormals, the infinities, NaN. */
  static float[] values(int n) {
    SplittableRandom random = new SplittableRandom(5);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = Float.intBitsToFloat(random.nextInt());
    }
    float[] special = {
      0f,
      -0f,
      1f,
      -1.5f,
      Float.MIN_VALUE,
      -Float.MIN_NORMAL,
      Float.MAX_VALUE,
      Float.POSITIVE_INFINITY,
      Float.NEGATIVE_INFINITY,
      Float.NaN,
      Float.intBitsToFloat(0x3f80_8000), // a tie: rounds to even (down)
      Float.intBitsToFloat(0x3f81_8000), // a tie: rounds to even (up)
    };
    System.arraycopy(special, 0, v, 0, special.length);
    return v;
  }

  @Test
  void allocateGivesZeroedElementsOfTheDtypeAndCountsTheirBytes() {
    long before = HostBuffers.liveBytes();
    try (HostBuffers buffers = new HostBuffers()) {
      View bf16 = buffers.allocate(DType.BF16, 5);
      View f32 = buffers.allocate(DType.F32, 3);
      assertThat(bf16.dtype()).isEqualTo(DType.BF16);
      assertThat(bf16.offset()).isZero();
      assertThat(bf16.buffer().byteSize()).isEqualTo(10);
      assertThat(f32.buffer().byteSize()).isEqualTo(12);
      assertThat(bf16.buffer().address() % 64).isZero();
      assertThat(buffers.download(bf16, 5)).containsOnly(0f);
      assertThat(HostBuffers.liveBytes() - before).isEqualTo(22);
      assertThatThrownBy(() -> buffers.allocate(DType.F32, -1))
          .hasMessageContaining("-1 f32 elements");
    }
    assertThat(HostBuffers.liveBytes()).isEqualTo(before);
  }

  @Test
  void uploadAndDownloadRoundTripFloatsAndRoundIntoBf16() {
    float[] v = values(300);
    try (HostBuffers buffers = new HostBuffers()) {
      View f32 = View.of(buffers.allocate(310), 0);
      buffers.upload(v, f32.plus(7));
      float[] back = buffers.download(f32.plus(7), v.length);
      for (int i = 0; i < v.length; i++) {
        assertThat(Float.floatToRawIntBits(back[i]))
            .as("f32 %d", i)
            .isEqualTo(Float.floatToRawIntBits(v[i]));
      }
      View bf16 = buffers.allocate(DType.BF16, 301);
      buffers.upload(v, bf16.plus(1));
      float[] rounded = buffers.download(bf16.plus(1), v.length);
      for (int i = 0; i < v.length; i++) {
        assertThat(Float.floatToRawIntBits(rounded[i]))
            .as("bf16 %d", i)
            .isEqualTo(Float.floatToRawIntBits(Bf16.widen(Bf16.round(v[i]))));
      }
      assertThat(buffers.download(bf16, 1)).containsExactly(0f); // nothing written before
    }
  }

  @Test
  void copyMovesElementsOfOneDtypeEvenWhenTheRangesOverlap() {
    try (HostBuffers buffers = new HostBuffers()) {
      View f32 = View.of(buffers.allocate(10), 0);
      buffers.upload(new float[] {1, 2, 3, 4, 5, 6}, f32);
      buffers.copy(f32, f32.plus(2), 6); // forwards over itself, as memmove
      assertThat(buffers.download(f32, 8)).containsExactly(1, 2, 1, 2, 3, 4, 5, 6);
      buffers.copy(f32.plus(3), f32, 4); // backwards
      assertThat(buffers.download(f32, 8)).containsExactly(2, 3, 4, 5, 3, 4, 5, 6);
      View bf16 = buffers.allocate(DType.BF16, 4);
      buffers.upload(new float[] {1, 2, 3}, bf16.plus(1));
      buffers.copy(bf16.plus(1), bf16, 3);
      assertThat(buffers.download(bf16, 4)).containsExactly(1, 2, 3, 3);
    }
  }

  @Test
  void copyBetweenDtypesWidensExactlyAndRoundsToNearestEven() {
    float[] v = values(1000);
    try (HostBuffers buffers = new HostBuffers()) {
      View f32 = View.of(buffers.allocate(1003), 0);
      View bf16 = buffers.allocate(DType.BF16, 1001);
      buffers.upload(v, f32.plus(3));
      buffers.copy(f32.plus(3), bf16.plus(1), v.length);
      View wide = View.of(buffers.allocate(1000), 0);
      buffers.copy(bf16.plus(1), wide, v.length);
      float[] back = buffers.download(wide, v.length);
      for (int i = 0; i < v.length; i++) {
        assertThat(Float.floatToRawIntBits(back[i]))
            .as("element %d", i)
            .isEqualTo(Float.floatToRawIntBits(Bf16.widen(Bf16.round(v[i]))));
      }
    }
  }

  @Test
  void zeroClearsExactlyItsRange() {
    try (HostBuffers buffers = new HostBuffers()) {
      Floats floats = buffers.allocate(6);
      buffers.upload(new float[] {1, -2, 3, 4, 5, 6}, View.of(floats, 0));
      buffers.zero(View.of(floats, 1), 3);
      assertThat(buffers.download(View.of(floats, 0), 6)).containsExactly(1, 0, 0, 0, 5, 6);
      assertThat(Float.floatToRawIntBits(floats.get(1))).isZero(); // +0, not -0
      View bf16 = buffers.allocate(DType.BF16, 3);
      buffers.upload(new float[] {7, 8, 9}, bf16);
      buffers.zero(bf16.plus(2), 1);
      assertThat(buffers.download(bf16, 3)).containsExactly(7, 8, 0);
    }
  }

  @Test
  void idsConvertToNothingAndAConversionMayNotOverlapItself() {
    try (HostBuffers buffers = new HostBuffers()) {
      View ids = buffers.allocate(DType.I32, 4);
      View f32 = View.of(buffers.allocate(8), 0);
      buffers.upload(new int[] {7, -1, 3, 2}, ids);
      assertThat(HostBuffers.ids(ids, 4, "ids")).containsExactly(7, -1, 3, 2);
      assertThatThrownBy(() -> buffers.copy(ids, f32, 4))
          .hasMessage("no conversion from i32 to f32");
      assertThatThrownBy(() -> buffers.upload(new float[] {1f}, ids))
          .hasMessage("no conversion from f32 to i32");
      assertThatThrownBy(() -> buffers.download(ids, 1))
          .hasMessage("ids are not downloaded as floats");
      assertThatThrownBy(() -> buffers.upload(new int[] {1}, f32))
          .hasMessage("an upload's destination must be i32, got f32");
      assertThatThrownBy(() -> HostBuffers.ids(f32, 1, "tokens"))
          .hasMessage("tokens must be i32, got f32");
      assertThat(HostBuffers.ids(ids, 4, "ids")).containsExactly(7, -1, 3, 2);
      buffers.upload(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, f32);
      // the bf16 values over the floats' own bytes: widening them in place would read what it wrote
      assertThatThrownBy(() -> buffers.copy(f32.as(DType.BF16), f32, 4))
          .hasMessageContaining("overlap");
      assertThatThrownBy(() -> buffers.copy(f32, f32.plus(2).as(DType.BF16), 4))
          .hasMessageContaining("overlap");
      assertThat(buffers.download(f32, 8)).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
      buffers.copy(f32, f32.plus(4).as(DType.BF16), 4); // bytes 16..24 hold none of floats 0..3
      assertThat(buffers.download(f32.plus(4).as(DType.BF16), 4)).containsExactly(1, 2, 3, 4);
    }
  }

  @Test
  void aRangePastTheBufferIsRefusedBeforeAnythingIsWritten() {
    try (HostBuffers buffers = new HostBuffers()) {
      View f32 = View.of(buffers.allocate(4), 0);
      View bf16 = buffers.allocate(DType.BF16, 8);
      buffers.upload(new float[] {1, 2, 3, 4}, f32);
      assertThatThrownBy(() -> buffers.copy(f32, bf16.plus(5), 4))
          .isInstanceOf(IndexOutOfBoundsException.class);
      assertThat(buffers.download(bf16, 8)).containsOnly(0f);
      assertThatThrownBy(() -> buffers.copy(bf16, f32.plus(1), 4))
          .isInstanceOf(IndexOutOfBoundsException.class);
      assertThat(buffers.download(f32, 4)).containsExactly(1, 2, 3, 4);
      assertThatThrownBy(() -> buffers.zero(f32.plus(2), 3))
          .isInstanceOf(IndexOutOfBoundsException.class);
      assertThatThrownBy(() -> buffers.download(f32.plus(1), 4))
          .isInstanceOf(IndexOutOfBoundsException.class);
    }
  }
}
