package dev.cria.train.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.core.tensorboard.TensorBoardEvents;
import dev.cria.core.tensorboard.TfRecord;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorBoardWriterTest {
  @TempDir Path tmp;

  static Path vector() {
    String configured = System.getProperty("cria.shared");
    Path shared = configured != null ? Path.of(configured) : Path.of("..", "shared");
    Path p = shared.resolve("data/vectors/events.out.tfevents.1700000000.testhost");
    assumeTrue(Files.exists(p), () -> "skipped: " + p + " is absent (it lives in ../shared)");
    return p;
  }

  @Test
  void readsTheReferenceEventFile() throws Exception {
    TensorBoardEvents.Contents c = TensorBoardEvents.read(vector());
    assertThat(c.fileVersion()).isEqualTo("brain.Event:2");
    assertThat(c.scalars())
        .singleElement()
        .satisfies(s -> {
          assertThat(s.tag()).isEqualTo("train_loss");
          assertThat(s.step()).isEqualTo(10);
          assertThat(s.value()).isEqualTo(2.5f);
          assertThat(s.wallTime()).isEqualTo(1_700_000_001.25);
        });
  }

  @Test
  void framesRecordsByteForByteAsTheReference() throws Exception {
    // The reference file's records, re-framed by our writer, give the file back exactly.
    byte[] reference = Files.readAllBytes(vector());
    ByteArrayOutputStream rebuilt = new ByteArrayOutputStream();
    try (var in = new java.io.ByteArrayInputStream(reference)) {
      byte[] record;
      while ((record = TfRecord.read(in, "reference")) != null) {
        TfRecord.write(rebuilt, record);
      }
    }
    assertThat(rebuilt.toByteArray()).isEqualTo(reference);
  }

  @Test
  void writesScalarsThatReadBack() throws Exception {
    Path file;
    try (TensorBoardWriter w = TensorBoardWriter.create(tmp.resolve("run"))) {
      w.scalar("reduced_train_loss", 1, 10.5f);
      w.scalar("reduced_train_loss", 2, 9.25f);
      w.scalar("lr", 2, 3e-4f);
      file = w.file();
    }
    assertThat(file.getFileName().toString()).startsWith("events.out.tfevents.");
    TensorBoardEvents.Contents c = TensorBoardEvents.read(file);
    assertThat(c.fileVersion()).isEqualTo("brain.Event:2");
    assertThat(c.scalars())
        .extracting(
            TensorBoardEvents.Scalar::tag,
            TensorBoardEvents.Scalar::step,
            TensorBoardEvents.Scalar::value)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple("reduced_train_loss", 1L, 10.5f),
            org.assertj.core.groups.Tuple.tuple("reduced_train_loss", 2L, 9.25f),
            org.assertj.core.groups.Tuple.tuple("lr", 2L, 3e-4f));
  }

  @Test
  void detectsCorruption() throws Exception {
    Path written;
    try (TensorBoardWriter w = TensorBoardWriter.create(tmp.resolve("written"))) {
      w.scalar("reduced_train_loss", 1, 10.5f);
      written = w.file();
    }
    byte[] bytes = Files.readAllBytes(written);
    byte[] corrupt = Arrays.copyOf(bytes, bytes.length);
    corrupt[corrupt.length - 6] ^= 1; // inside the last record's data
    Path bad = tmp.resolve("events.out.tfevents.bad");
    Files.write(bad, corrupt);
    assertThatThrownBy(() -> TensorBoardEvents.read(bad)).hasMessageContaining("CRC mismatch");
    Files.write(bad, Arrays.copyOf(bytes, bytes.length - 3));
    assertThatThrownBy(() -> TensorBoardEvents.read(bad)).hasMessageContaining("truncated");
  }

  /**
   * Runs tools/read_tfevents.py, a reader that shares nothing with cria (Google's protobuf library
   * and a CRC-32C of its own), on {@code file}: its JSON lines.
   */
  static List<String> readIndependently(Path file) throws Exception {
    Process probe =
        new ProcessBuilder("/usr/bin/python3", "-c", "import google.protobuf")
            .redirectErrorStream(true)
            .start();
    assumeTrue(
        probe.waitFor(60, java.util.concurrent.TimeUnit.SECONDS) && probe.exitValue() == 0,
        "skipped: python3-protobuf is absent (.ci/run installs it)");
    Path tool = Path.of("..", "tools", "read_tfevents.py");
    Process p =
        new ProcessBuilder("/usr/bin/python3", tool.toString(), file.toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    return out.lines().toList();
  }

  @Test
  void anIndependentReaderReadsTheReferenceFileAsTensorBoardWroteIt() throws Exception {
    assertThat(readIndependently(vector()))
        .containsExactly(
            "{\"file_version\": \"brain.Event:2\"}",
            "{\"step\": 10, \"wall_time\": 1700000001.25, \"tag\": \"train_loss\", \"value\": 2.5}");
  }

  @Test
  void anIndependentReaderReadsWhatCriaWritesCrcsAndAll() throws Exception {
    Path file;
    try (TensorBoardWriter w = TensorBoardWriter.create(tmp)) {
      w.scalar("reduced_train_loss", 1, 6.25f);
      w.scalar("lr", 1, 3e-4f);
      w.scalar("val_loss", 200, 2.0625f);
      w.scalar("durée/étape", 1L << 40, -0.5f); // a non-ASCII tag, a step past 2^32
      file = w.file();
    }
    List<String> lines = readIndependently(file);
    assertThat(lines.getFirst()).isEqualTo("{\"file_version\": \"brain.Event:2\"}");
    assertThat(lines.subList(1, lines.size()))
        .hasSize(4)
        .satisfiesExactly(
            l ->
                assertThat(l)
                    .contains(
                        "\"step\": 1,", "\"tag\": \"reduced_train_loss\"", "\"value\": 6.25}"),
            l ->
                assertThat(l)
                    .contains(
                        "\"step\": 1,", "\"tag\": \"lr\"", "\"value\": 0.0003000000142492354}"),
            l ->
                assertThat(l)
                    .contains("\"step\": 200,", "\"tag\": \"val_loss\"", "\"value\": 2.0625}"),
            l ->
                assertThat(l)
                    .contains(
                        "\"step\": 1099511627776,",
                        "\"tag\": \"dur\\u00e9e/\\u00e9tape\"",
                        "\"value\": -0.5}"));
    // and a damaged byte is caught by the reader's own CRC
    byte[] bytes = java.nio.file.Files.readAllBytes(file);
    bytes[bytes.length - 6] ^= 1;
    Path damaged = tmp.resolve("damaged.tfevents");
    java.nio.file.Files.write(damaged, bytes);
    Process p =
        new ProcessBuilder(
                "/usr/bin/python3",
                Path.of("..", "tools", "read_tfevents.py").toString(),
                damaged.toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isEqualTo(1);
    assertThat(out).contains("record 4: the data's CRC is wrong");
  }
}
