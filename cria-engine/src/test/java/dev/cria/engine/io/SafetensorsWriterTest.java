package dev.cria.engine.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file written a tensor at a time ({@link SafetensorsWriter#streamed}) is the file written from
 * the tensors at once, byte for byte, with the same size and CRC-32C; a stream that is not told
 * every tensor, or a tensor of another size, leaves nothing behind.
 */
class SafetensorsWriterTest {
  @TempDir Path tmp;

  private static MemorySegment floats(Arena arena, int n, float base) {
    MemorySegment s = arena.allocate(4L * n, 4);
    for (int i = 0; i < n; i++) {
      s.setAtIndex(ValueLayout.JAVA_FLOAT, i, base + i);
    }
    return s;
  }

  @Test
  void aFileWrittenATensorAtATimeIsTheFileWrittenAtOnce() throws Exception {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment a = floats(arena, 6, 1f);
      MemorySegment b = floats(arena, 3, -2f);
      Map<String, String> meta = Map.of("format", "pt", "step", "7");
      Path whole = tmp.resolve("whole.safetensors");
      SafetensorsWriter.Written w =
          SafetensorsWriter.write(
              whole,
              List.of(
                  new SafetensorsWriter.Tensor("a", new long[] {2, 3}, a),
                  new SafetensorsWriter.Tensor("b", new long[] {3}, b)),
              SafetensorsWriter.Dtype.F32,
              meta);
      Path streamed = tmp.resolve("streamed.safetensors");
      SafetensorsWriter.Written s;
      try (SafetensorsWriter.Streamed out =
          SafetensorsWriter.streamed(
              streamed,
              List.of(
                  new SafetensorsWriter.Spec("a", new long[] {2, 3}),
                  new SafetensorsWriter.Spec("b", new long[] {3})),
              meta)) {
        out.append(a);
        out.append(b);
        s = out.finish();
      }
      assertThat(Files.readAllBytes(streamed)).isEqualTo(Files.readAllBytes(whole));
      assertThat(s).isEqualTo(w);
      try (SafetensorsFile read = SafetensorsFile.open(streamed)) {
        assertThat(read.readFloats("b")).containsExactly(-2f, -1f, 0f);
      }
      // cut short, as an interrupted copy leaves it: the last tensor is named, and why
      Path cut = tmp.resolve("cut.safetensors");
      byte[] bytes = Files.readAllBytes(whole);
      Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length - 4));
      assertThatThrownBy(() -> SafetensorsFile.open(cut).close())
          .isInstanceOf(SafetensorsException.class)
          .hasMessage(
              cut
                  + ": tensor b ends at byte 36 of the data, which holds 32: the file is cut short"
                  + " (an interrupted copy or download?)");
    }
  }

  @Test
  void aStreamThatIsNotToldEveryTensorLeavesNothing() throws Exception {
    try (Arena arena = Arena.ofConfined()) {
      Path file = tmp.resolve("m.safetensors");
      List<SafetensorsWriter.Spec> specs =
          List.of(
              new SafetensorsWriter.Spec("a", new long[] {4}),
              new SafetensorsWriter.Spec("b", new long[] {2}));
      try (SafetensorsWriter.Streamed out = SafetensorsWriter.streamed(file, specs, Map.of())) {
        assertThatThrownBy(() -> out.append(floats(arena, 3, 0f)))
            .hasMessageContaining("a: shape holds 4 floats, data 3");
        out.append(floats(arena, 4, 0f));
        assertThatThrownBy(out::finish).hasMessageContaining("1 of 2 tensors written");
      }
      try (var left = Files.list(tmp)) {
        assertThat(left).as("neither the file nor its temporary sibling").isEmpty();
      }
    }
  }

  @Test
  void bf16DataIsWrittenToABf16FileAsItIsAndRefusedForAnF32One() throws Exception {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment f = floats(arena, 5, 0.1f); // not bf16 values: the F32 tensor is rounded
      MemorySegment h = arena.allocate(2L * 5, 2);
      for (int i = 0; i < 5; i++) {
        h.setAtIndex(ValueLayout.JAVA_SHORT, i, SafetensorsWriter.bf16(-3f - i));
      }
      Path file = tmp.resolve("mixed.safetensors");
      SafetensorsWriter.Written w =
          SafetensorsWriter.write(
              file,
              List.of(
                  new SafetensorsWriter.Tensor("f", new long[] {5}, f),
                  new SafetensorsWriter.Tensor(
                      "h", new long[] {5}, h, SafetensorsWriter.Dtype.BF16)),
              SafetensorsWriter.Dtype.BF16,
              Map.of());
      assertThat(Files.size(file)).isEqualTo(w.bytes());
      try (SafetensorsFile read = SafetensorsFile.open(file)) {
        assertThat(read.entries().get("h").dtype()).isEqualTo("BF16");
        assertThat(read.readFloats("h")).containsExactly(-3f, -4f, -5f, -6f, -7f);
        float[] rounded = read.readFloats("f");
        for (int i = 0; i < 5; i++) {
          float x = 0.1f + i;
          assertThat(rounded[i])
              .isEqualTo(Float.intBitsToFloat(SafetensorsWriter.bf16(x) << 16))
              .isNotEqualTo(x);
        }
      }
      Path refused = tmp.resolve("refused.safetensors");
      assertThatThrownBy(() ->
              SafetensorsWriter.write(
                  refused,
                  List.of(
                      new SafetensorsWriter.Tensor(
                          "h", new long[] {5}, h, SafetensorsWriter.Dtype.BF16)),
                  SafetensorsWriter.Dtype.F32,
                  Map.of()))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("h: bf16 data goes to a BF16 file");
      assertThat(refused).doesNotExist();
      assertThatThrownBy(() ->
              new SafetensorsWriter.Tensor("h", new long[] {4}, h, SafetensorsWriter.Dtype.BF16))
          .hasMessageContaining("shape holds 4 elements, data 5 of BF16");
    }
  }
}
