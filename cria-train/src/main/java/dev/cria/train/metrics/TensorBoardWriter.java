package dev.cria.train.metrics;

import dev.cria.core.protobuf.ProtoWriter;
import dev.cria.core.tensorboard.TfRecord;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Writes a TensorBoard event file, {@code events.out.tfevents.<seconds>.<host>} in a directory:
 * first the {@code brain.Event:2} version record, then one {@code Event} per scalar with {@code
 * wall_time}, {@code step} and a {@code Summary.Value} of {@code tag} and {@code simple_value}.
 * TensorBoard reads the file while it grows; {@link #flush()} makes what was written visible and
 * durable.
 */
public final class TensorBoardWriter implements AutoCloseable {
  // Event
  private static final int WALL_TIME = 1;
  private static final int STEP = 2;
  private static final int FILE_VERSION = 3;
  private static final int SUMMARY = 5;
  // Summary / Summary.Value
  private static final int SUMMARY_VALUE = 1;
  private static final int TAG = 1;
  private static final int SIMPLE_VALUE = 2;

  private final Path file;
  private final FileChannel channel;
  private final OutputStream out;

  private TensorBoardWriter(Path file) throws IOException {
    this.file = file;
    this.channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    this.out =
        new BufferedOutputStream(java.nio.channels.Channels.newOutputStream(channel), 1 << 16);
    write(
        new ProtoWriter()
            .doubleField(WALL_TIME, now())
            .string(FILE_VERSION, "brain.Event:2")
            .toByteArray());
    flush();
  }

  /** Creates a new event file in {@code directory}, named as TensorFlow names them. */
  public static TensorBoardWriter create(Path directory) throws IOException {
    Files.createDirectories(directory);
    String host;
    try {
      host = InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      host = "localhost";
    }
    long seconds = System.currentTimeMillis() / 1000;
    Path file = directory.resolve("events.out.tfevents." + seconds + "." + host);
    for (int n = 1; Files.exists(file); n++) {
      file = directory.resolve("events.out.tfevents." + seconds + "." + host + "." + n);
    }
    return new TensorBoardWriter(file);
  }

  public Path file() {
    return file;
  }

  /** Appends scalar {@code tag} = {@code value} at {@code step}. */
  public synchronized void scalar(String tag, long step, float value) throws IOException {
    ProtoWriter summaryValue = new ProtoWriter().string(TAG, tag).floatField(SIMPLE_VALUE, value);
    ProtoWriter summary = new ProtoWriter().message(SUMMARY_VALUE, summaryValue);
    write(
        new ProtoWriter()
            .doubleField(WALL_TIME, now())
            .varint(STEP, step)
            .message(SUMMARY, summary)
            .toByteArray());
  }

  private void write(byte[] event) throws IOException {
    TfRecord.write(out, event);
  }

  private static double now() {
    return System.currentTimeMillis() / 1000.0;
  }

  /** Makes everything written so far visible to readers and durable on disk. */
  public synchronized void flush() throws IOException {
    out.flush();
    channel.force(false);
  }

  @Override
  public synchronized void close() throws IOException {
    flush();
    out.close();
  }
}
