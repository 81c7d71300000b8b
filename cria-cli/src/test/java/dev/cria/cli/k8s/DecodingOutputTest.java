package dev.cria.cli.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** A pod's log arriving in pieces prints the characters it holds, whole. */
class DecodingOutputTest {
  private static String through(byte[] bytes, int... cuts) {
    StringWriter text = new StringWriter();
    DecodingOutput sink = new DecodingOutput(new PrintWriter(text));
    int from = 0;
    for (int cut : cuts) {
      sink.write(bytes, from, cut - from);
      from = cut;
    }
    sink.write(bytes, from, bytes.length - from);
    sink.close();
    return text.toString();
  }

  @Test
  void aKoreanCharacterSplitAcrossTwoWritesPrintsWhole() {
    byte[] line = "step 5 손실 2.5\n".getBytes(StandardCharsets.UTF_8);
    // "손" is 3 bytes starting at 7: cut after its first byte, and after its second
    assertThat(through(line, 8)).isEqualTo("step 5 손실 2.5\n");
    assertThat(through(line, 9)).isEqualTo("step 5 손실 2.5\n");
    // and every byte on its own
    int[] each = new int[line.length - 1];
    for (int i = 0; i < each.length; i++) {
      each[i] = i + 1;
    }
    assertThat(through(line, each)).isEqualTo("step 5 손실 2.5\n");
  }

  @Test
  void singleByteWritesDecodeToo() {
    StringWriter text = new StringWriter();
    DecodingOutput sink = new DecodingOutput(new PrintWriter(text));
    for (byte b : "é€😀".getBytes(StandardCharsets.UTF_8)) {
      sink.write(b);
    }
    sink.close();
    assertThat(text.toString()).isEqualTo("é€😀");
  }

  @Test
  void aLogThatEndsInsideACharacterEndsWithTheReplacementCharacter() {
    byte[] bytes = "ok 손".getBytes(StandardCharsets.UTF_8);
    assertThat(through(java.util.Arrays.copyOf(bytes, bytes.length - 1))).isEqualTo("ok \uFFFD");
  }

  @Test
  void writesLargerThanTheBufferArriveWhole() {
    String big = "가".repeat(10_000); // 30,000 bytes, more than the 8 KiB held at a time
    assertThat(through(big.getBytes(StandardCharsets.UTF_8), 4097, 20_000)).isEqualTo(big);
  }
}
