package dev.cria.engine.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** A view's offset counts elements of its dtype, and a view never starts outside its buffer. */
class ViewTest {
  static final MemorySegment BUFFER = MemorySegment.ofArray(new float[8]); // 32 bytes

  @Test
  void eachDtypeKnowsItsElementSizeAndShortName() {
    assertThat(DType.F32.bytes()).isEqualTo(Float.BYTES).isEqualTo(4);
    assertThat(DType.BF16.bytes()).isEqualTo(Bf16.BYTES).isEqualTo(2);
    assertThat(DType.F32.shortName()).isEqualTo("f32");
    assertThat(DType.BF16.shortName()).isEqualTo("bf16");
  }

  @Test
  void theFactoriesSayTheDtype() {
    assertThat(View.f32(BUFFER, 3)).isEqualTo(new View(BUFFER, 3, DType.F32));
    assertThat(View.bf16(BUFFER, 3)).isEqualTo(new View(BUFFER, 3, DType.BF16));
    Floats floats = Floats.of(1f, 2f, 3f);
    assertThat(View.of(floats, 2)).isEqualTo(new View(floats.segment(), 2, DType.F32));
  }

  @Test
  void theByteOffsetCountsElementsOfTheDtype() {
    assertThat(View.f32(BUFFER, 5).byteOffset()).isEqualTo(20);
    assertThat(View.bf16(BUFFER, 5).byteOffset()).isEqualTo(10);
    assertThat(View.bf16(BUFFER, 0).byteOffset()).isZero();
  }

  @Test
  void plusMovesOnByElementsAndKeepsTheBufferAndDtype() {
    View bf16 = View.bf16(BUFFER, 3).plus(4);
    assertThat(bf16).isEqualTo(View.bf16(BUFFER, 7));
    assertThat(bf16.byteOffset()).isEqualTo(14);
    assertThat(View.f32(BUFFER, 1).plus(2)).isEqualTo(View.f32(BUFFER, 3));
    assertThat(View.f32(BUFFER, 1).plus(0)).isEqualTo(View.f32(BUFFER, 1));
  }

  @Test
  void asReadsTheSameBytesInAnotherDtype() {
    assertThat(View.f32(BUFFER, 3).as(DType.BF16)).isEqualTo(View.bf16(BUFFER, 6));
    assertThat(View.bf16(BUFFER, 6).as(DType.F32)).isEqualTo(View.f32(BUFFER, 3));
    assertThat(View.f32(BUFFER, 3).as(DType.F32)).isEqualTo(View.f32(BUFFER, 3));
    assertThatThrownBy(() -> View.bf16(BUFFER, 5).as(DType.F32))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("byte 10 is not the start of a f32 element");
  }

  @Test
  void aViewMayStartAtTheEndOfItsBufferButNotPastIt() {
    assertThat(View.f32(BUFFER, 8).byteOffset()).isEqualTo(32);
    assertThat(View.bf16(BUFFER, 16).byteOffset()).isEqualTo(32);
    assertThatThrownBy(() -> View.f32(BUFFER, 9))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("offset 9 (f32)")
        .hasMessageContaining("32 bytes");
    assertThatThrownBy(() -> View.bf16(BUFFER, 17))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("offset 17 (bf16)");
    assertThatThrownBy(() -> View.f32(BUFFER, 4).plus(5))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void theConstructorRefusesANegativeOffsetAndMissingParts() {
    assertThatThrownBy(() -> View.f32(BUFFER, -1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("negative, got -1");
    assertThatThrownBy(() -> View.bf16(BUFFER, 2).plus(-3))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new View(null, 0, DType.F32))
        .isInstanceOf(NullPointerException.class)
        .hasMessageContaining("buffer");
    assertThatThrownBy(() -> new View(BUFFER, 0, null))
        .isInstanceOf(NullPointerException.class)
        .hasMessageContaining("dtype");
  }
}
