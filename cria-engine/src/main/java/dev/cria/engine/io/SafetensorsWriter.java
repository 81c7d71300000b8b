package dev.cria.engine.io;

import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Writes a model's parameters as one F32 safetensors file with Hugging Face names and shapes
 * (norm weights one-dimensional), atomically: a temporary sibling, fsynced, then renamed.
 */
public final class SafetensorsWriter {
  private static final JsonMapper JSON = JsonMapper.builder().build();

  private SafetensorsWriter() {}

  /** Writes every tensor of {@code layout} from {@code parameters} to {@code file}. */
  public static void writeF32(Path file, ParameterLayout layout, Floats parameters, Map<String, String> metadata)
      throws IOException {
    ObjectNode header = JSON.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      metadata.forEach(meta::put);
    }
    long position = 0;
    for (ParameterLayout.Tensor t : layout.tensors()) {
      ObjectNode entry = header.putObject(t.name());
      entry.put("dtype", "F32");
      var shape = entry.putArray("shape");
      if (t.rows() == 1) {
        shape.add(t.cols());
      } else {
        shape.add(t.rows()).add(t.cols());
      }
      entry.putArray("data_offsets").add(position).add(position + t.size() * Float.BYTES);
      position += t.size() * Float.BYTES;
    }
    byte[] json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    int padded = (json.length + 7) / 8 * 8; // the data starts 8-byte aligned
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(json);
    while (head.hasRemaining()) {
      head.put((byte) ' ');
    }
    head.flip();
    Path target = file.toAbsolutePath();
    Files.createDirectories(target.getParent());
    Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp-" + ProcessHandle.current().pid());
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
          StandardOpenOption.WRITE)) {
        while (head.hasRemaining()) {
          ch.write(head);
        }
        MemorySegment all = parameters.segment();
        for (ParameterLayout.Tensor t : layout.tensors()) {
          ByteBuffer data = all.asSlice(t.offset() * Float.BYTES, t.size() * Float.BYTES).asByteBuffer();
          if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new IOException("safetensors writing needs a little-endian machine");
          }
          while (data.hasRemaining()) {
            ch.write(data);
          }
        }
        ch.force(true);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }
}
