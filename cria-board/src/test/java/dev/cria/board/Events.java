package dev.cria.board;

import dev.cria.core.protobuf.ProtoWriter;
import dev.cria.core.tensorboard.TfRecord;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Writes TensorBoard event files for the tests, as PyTorch's SummaryWriter writes scalars. */
final class Events {
  private Events() {}

  /**
   * Appends one scalar event ({@code simple_value}) to {@code file}, creating it with its version
   * record.
   */
  static void scalar(Path file, String tag, long step, float value) throws IOException {
    boolean fresh = !Files.exists(file);
    Files.createDirectories(file.getParent());
    try (OutputStream out =
        Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
      if (fresh) {
        TfRecord.write(
            out, new ProtoWriter().doubleField(1, 1.7e9).string(3, "brain.Event:2").toByteArray());
      }
      ProtoWriter v = new ProtoWriter().string(1, tag).floatField(2, value);
      ProtoWriter summary = new ProtoWriter().message(1, v);
      TfRecord.write(
          out,
          new ProtoWriter()
              .doubleField(1, 1.7e9 + step)
              .varint(2, step)
              .message(5, summary)
              .toByteArray());
    }
  }
}
