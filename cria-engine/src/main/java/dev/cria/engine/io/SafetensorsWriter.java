package dev.cria.engine.io;

import dev.cria.core.io.AtomicFiles;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Writes float tensors as a safetensors file, in F32 or BF16, atomically: a temporary sibling,
 * fsynced, then renamed. Returns the file's size and CRC-32C, computed while writing, so that a
 * checkpoint's manifest costs no second read.
 */
public final class SafetensorsWriter {
  private static final JsonMapper JSON = JsonMapper.builder().build();
  private static final int CHUNK = 1 << 24; // bytes per write: bounded buffers for any tensor size

  /** The element type written. */
  public enum Dtype {
    F32(4),
    BF16(2);

    private final int width;

    Dtype(int width) {
      this.width = width;
    }

    public int width() {
      return width;
    }
  }

  /**
   * One tensor to write.
   *
   * @param shape dimensions; their product is the number of floats in {@code data}
   * @param data native-order elements of {@code stored}
   * @param stored how {@code data} holds them: F32, or BF16 to be written to a BF16 file as they
   *     are
   */
  public record Tensor(String name, long[] shape, MemorySegment data, Dtype stored) {
    public Tensor {
      long n = 1;
      for (long s : shape) {
        n *= s;
      }
      if (n * stored.width() != data.byteSize()) {
        throw new IllegalArgumentException(
            name
                + ": shape holds "
                + n
                + " elements, data "
                + data.byteSize() / stored.width()
                + " of "
                + stored);
      }
    }

    /** A tensor of native-order floats. */
    public Tensor(String name, long[] shape, MemorySegment data) {
      this(name, shape, data, Dtype.F32);
    }

    long elements() {
      return data.byteSize() / stored.width();
    }
  }

  /** What was written: the file's bytes and their CRC-32C. */
  public record Written(long bytes, long crc32c) {}

  private SafetensorsWriter() {}

  /** The model's tensors with Hugging Face names and shapes (norm weights one-dimensional). */
  public static List<Tensor> tensors(ParameterLayout layout, Floats parameters) {
    List<Tensor> out = new ArrayList<>();
    MemorySegment all = parameters.segment();
    for (ParameterLayout.Tensor t : layout.tensors()) {
      long[] shape = t.rows() == 1 ? new long[] {t.cols()} : new long[] {t.rows(), t.cols()};
      out.add(
          new Tensor(
              t.name(), shape, all.asSlice(t.offset() * Float.BYTES, t.size() * Float.BYTES)));
    }
    return out;
  }

  /** Writes every tensor of {@code layout} from {@code parameters} to {@code file} as F32. */
  public static Written writeF32(
      Path file, ParameterLayout layout, Floats parameters, Map<String, String> metadata)
      throws IOException {
    return write(file, tensors(layout, parameters), Dtype.F32, metadata);
  }

  /**
   * Writes {@code tensors} to {@code file} in {@code dtype} (BF16 rounds F32 data to nearest even,
   * and writes BF16 data as it is).
   */
  public static Written write(
      Path file, List<Tensor> tensors, Dtype dtype, Map<String, String> metadata)
      throws IOException {
    if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      throw new IOException("safetensors writing needs a little-endian machine");
    }
    for (Tensor t : tensors) {
      if (t.stored() == Dtype.BF16 && dtype == Dtype.F32) {
        throw new IllegalArgumentException(
            t.name() + ": bf16 data goes to a BF16 file; widening it on write is not built");
      }
    }
    ByteBuffer head = header(tensors, dtype, metadata);
    Path target = file.toAbsolutePath();
    Files.createDirectories(target.getParent());
    Path tmp = AtomicFiles.temporarySibling(target);
    CRC32C crc = new CRC32C();
    long bytes = 0;
    try {
      try (FileChannel ch =
          FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        bytes += put(ch, head, crc);
        ByteBuffer staging =
            dtype == Dtype.BF16
                ? ByteBuffer.allocateDirect(CHUNK / 2).order(ByteOrder.LITTLE_ENDIAN)
                : null;
        for (Tensor t : tensors) {
          long size = t.data().byteSize();
          for (long at = 0; at < size; at += CHUNK) {
            MemorySegment part = t.data().asSlice(at, Math.min(CHUNK, size - at));
            bytes +=
                put(ch, t.stored() == dtype ? part.asByteBuffer() : toBf16(part, staging), crc);
          }
        }
        ch.force(true);
      }
      AtomicFiles.rename(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
    return new Written(bytes, crc.getValue());
  }

  /** Bytes of the file {@link #write} would produce. */
  public static long size(List<Tensor> tensors, Dtype dtype, Map<String, String> metadata) {
    long n = header(tensors, dtype, metadata).remaining();
    for (Tensor t : tensors) {
      n += t.elements() * dtype.width();
    }
    return n;
  }

  private static ByteBuffer header(
      List<Tensor> tensors, Dtype dtype, Map<String, String> metadata) {
    return header(
        tensors.stream().map(t -> new Spec(t.name(), t.shape())).toList(), metadata, dtype);
  }

  private static ByteBuffer header(List<Spec> tensors, Map<String, String> metadata, Dtype dtype) {
    ObjectNode header = JSON.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      new java.util.TreeMap<>(metadata)
          .forEach(meta::put); // sorted: the same model, the same bytes
    }
    long position = 0;
    for (Spec t : tensors) {
      ObjectNode entry = header.putObject(t.name());
      entry.put("dtype", dtype.name());
      var shape = entry.putArray("shape");
      for (long s : t.shape()) {
        shape.add(s);
      }
      long length = t.elements() * dtype.width();
      entry.putArray("data_offsets").add(position).add(position + length);
      position += length;
    }
    byte[] json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    int padded = (json.length + 7) / 8 * 8; // the data starts 8-byte aligned
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(json);
    while (head.hasRemaining()) {
      head.put((byte) ' ');
    }
    return head.flip();
  }

  private static long put(FileChannel ch, ByteBuffer buffer, CRC32C crc) throws IOException {
    int n = buffer.remaining();
    crc.update(buffer.duplicate());
    while (buffer.hasRemaining()) {
      ch.write(buffer);
    }
    return n;
  }

  private static ByteBuffer toBf16(MemorySegment floats, ByteBuffer staging) {
    staging.clear();
    long n = floats.byteSize() / Float.BYTES;
    for (long i = 0; i < n; i++) {
      staging.putShort(bf16(floats.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
    }
    return staging.flip();
  }

  /**
   * A tensor of a file written a tensor at a time ({@link #streamed}): its name and shape.
   *
   * @param shape dimensions; their product is the number of floats the tensor holds
   */
  public record Spec(String name, long[] shape) {
    long elements() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  /**
   * Opens {@code file} (a temporary sibling until {@link Streamed#finish}) to be written F32, a
   * tensor at a time in the order of {@code tensors}: for data that no one holds whole at once (a
   * model gathered from its slices tensor by tensor). {@link Streamed#close} without a finish
   * removes the temporary file.
   */
  public static Streamed streamed(Path file, List<Spec> tensors, Map<String, String> metadata)
      throws IOException {
    if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      throw new IOException("safetensors writing needs a little-endian machine");
    }
    return new Streamed(file.toAbsolutePath(), List.copyOf(tensors), metadata);
  }

  /** A safetensors file being written a tensor at a time. */
  public static final class Streamed implements AutoCloseable {
    private final Path target;
    private final Path tmp;
    private final List<Spec> tensors;
    private final FileChannel ch;
    private final CRC32C crc = new CRC32C();
    private long bytes;
    private int next;
    private boolean finished;

    private Streamed(Path target, List<Spec> tensors, Map<String, String> metadata)
        throws IOException {
      this.target = target;
      this.tensors = tensors;
      Files.createDirectories(target.getParent());
      this.tmp = AtomicFiles.temporarySibling(target);
      this.ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      try {
        bytes += put(ch, header(tensors, metadata, Dtype.F32), crc);
      } catch (IOException | RuntimeException e) {
        close();
        throw e;
      }
    }

    /** Writes the next tensor's floats ({@code data}: exactly its elements, native order). */
    public void append(MemorySegment data) throws IOException {
      if (next == tensors.size()) {
        throw new IllegalStateException(target + ": every tensor is written already");
      }
      Spec t = tensors.get(next);
      if (data.byteSize() != t.elements() * Float.BYTES) {
        throw new IllegalArgumentException(
            t.name() + ": shape holds " + t.elements() + " floats, data " + data.byteSize() / 4);
      }
      for (long at = 0; at < data.byteSize(); at += CHUNK) {
        bytes +=
            put(ch, data.asSlice(at, Math.min(CHUNK, data.byteSize() - at)).asByteBuffer(), crc);
      }
      next++;
    }

    /** Once every tensor is written: fsyncs the file and renames it into place. */
    public Written finish() throws IOException {
      if (next != tensors.size()) {
        throw new IllegalStateException(
            target + ": " + next + " of " + tensors.size() + " tensors written");
      }
      ch.force(true);
      ch.close();
      AtomicFiles.rename(tmp, target);
      finished = true;
      return new Written(bytes, crc.getValue());
    }

    /** Closes the file; unfinished, removes it. */
    @Override
    public void close() throws IOException {
      if (ch.isOpen()) {
        ch.close();
      }
      if (!finished) {
        Files.deleteIfExists(tmp);
      }
    }
  }

  /** The bfloat16 nearest to {@code f} (ties to even); NaN stays NaN. */
  public static short bf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) {
      return (short) ((bits >>> 16) | 0x40); // keep it quiet and a NaN
    }
    return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
  }
}
