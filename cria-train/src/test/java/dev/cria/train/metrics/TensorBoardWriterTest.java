package dev.cria.train.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.core.tensorboard.TensorBoardEvents;
import dev.cria.core.tensorboard.TfRecord;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
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
    byte[] bytes = Files.readAllBytes(vector());
    byte[] corrupt = Arrays.copyOf(bytes, bytes.length);
    corrupt[corrupt.length - 6] ^= 1; // inside the last record's data
    Path bad = tmp.resolve("events.out.tfevents.bad");
    Files.write(bad, corrupt);
    assertThatThrownBy(() -> TensorBoardEvents.read(bad)).hasMessageContaining("CRC mismatch");
    Files.write(bad, Arrays.copyOf(bytes, bytes.length - 3));
    assertThatThrownBy(() -> TensorBoardEvents.read(bad)).hasMessageContaining("truncated");
  }
}
