package dev.cria.engine.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A Hugging Face safetensors file opened read-only: an 8-byte little-endian header length, a JSON
 * header naming each tensor's dtype, shape and byte range, then the data, memory-mapped. F32, F16
 * and BF16 tensors read as float.
 */
public final class SafetensorsFile implements AutoCloseable {
  /** One tensor's entry in the header. */
  public record Entry(String name, String dtype, long[] shape, long begin, long end) {
    public long elements() {
      long n = 1;
      for (long s : shape) {
        n *= s;
      }
      return n;
    }
  }

  private static final ValueLayout.OfFloat F32 =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort U16 =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final Path path;
  private final Arena arena;
  private final MemorySegment data;
  private final Map<String, Entry> entries;
  private final Map<String, String> metadata;

  private SafetensorsFile(Path path) throws IOException {
    this.path = path;
    this.arena = Arena.ofShared();
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
      if (all.byteSize() < 8) {
        throw new SafetensorsException(path + ": too short for a safetensors file");
      }
      long headerLength =
          all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
      if (headerLength <= 0 || headerLength > all.byteSize() - 8 || headerLength > 100_000_000) {
        throw new SafetensorsException(
            path + ": header length " + headerLength + " does not fit the file");
      }
      byte[] header = all.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
      this.data = all.asSlice(8 + headerLength);
      JsonNode root;
      try {
        root = JsonMapper.builder().build().readTree(new String(header, StandardCharsets.UTF_8));
      } catch (JacksonException e) {
        throw new SafetensorsException(path + ": malformed header JSON: " + e.getOriginalMessage());
      }
      Map<String, Entry> es = new LinkedHashMap<>();
      Map<String, String> meta = new LinkedHashMap<>();
      for (Map.Entry<String, JsonNode> e : root.properties()) {
        if (e.getKey().equals("__metadata__")) {
          e.getValue().properties().forEach(m -> meta.put(m.getKey(), m.getValue().asString()));
          continue;
        }
        JsonNode t = e.getValue();
        List<Long> shape = new ArrayList<>();
        t.path("shape").forEach(s -> shape.add(s.asLong()));
        long begin = t.path("data_offsets").path(0).asLong(-1);
        long end = t.path("data_offsets").path(1).asLong(-1);
        Entry entry =
            new Entry(
                e.getKey(),
                t.path("dtype").asString(""),
                shape.stream().mapToLong(Long::longValue).toArray(),
                begin,
                end);
        long width =
            switch (entry.dtype()) {
              case "F32" -> 4;
              case "F16", "BF16" -> 2;
              default -> -1;
            };
        if (begin >= 0 && end >= begin && end > data.byteSize()) {
          throw new SafetensorsException(
              path
                  + ": tensor "
                  + e.getKey()
                  + " ends at byte "
                  + end
                  + " of the data, which holds "
                  + data.byteSize()
                  + ": the file is cut short (an interrupted copy or download?)");
        }
        if (begin < 0 || end < begin || (width > 0 && entry.elements() * width != end - begin)) {
          throw new SafetensorsException(
              path + ": tensor " + e.getKey() + " has inconsistent offsets or shape");
        }
        es.put(e.getKey(), entry);
      }
      this.entries = Collections.unmodifiableMap(es);
      this.metadata = Collections.unmodifiableMap(meta);
    } catch (NoSuchFileException e) {
      arena.close();
      throw new SafetensorsException(path + ": no such file");
    } catch (IOException | RuntimeException e) {
      arena.close();
      throw e;
    }
  }

  public static SafetensorsFile open(Path path) throws IOException {
    return new SafetensorsFile(path);
  }

  public Map<String, Entry> entries() {
    return entries;
  }

  public Map<String, String> metadata() {
    return metadata;
  }

  /** The entry called {@code name}; throws naming the file when absent. */
  public Entry entry(String name) {
    Entry e = entries.get(name);
    if (e == null) {
      throw new SafetensorsException(path + ": no tensor named " + name);
    }
    return e;
  }

  /** Copies tensor {@code name} as floats into {@code dst} at element {@code dstOffset}. */
  public void read(String name, MemorySegment dst, long dstOffset) {
    read(name, 0, entry(name).elements(), dst, dstOffset);
  }

  /**
   * Copies elements {@code [from, from + count)} of tensor {@code name}, flattened, as floats into
   * {@code dst} at element {@code dstOffset}.
   */
  public void read(String name, long from, long count, MemorySegment dst, long dstOffset) {
    Entry e = entry(name);
    if (from < 0 || count < 0 || from + count > e.elements()) {
      throw new SafetensorsException(
          path
              + ": elements ["
              + from
              + ", "
              + (from + count)
              + ") of "
              + name
              + " are outside its "
              + e.elements());
    }
    switch (e.dtype()) {
      case "F32" -> {
        if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
          MemorySegment.copy(
              data, e.begin() + 4 * from, dst, dstOffset * Float.BYTES, count * Float.BYTES);
        } else {
          for (long i = 0; i < count; i++) {
            dst.setAtIndex(
                ValueLayout.JAVA_FLOAT, dstOffset + i, data.get(F32, e.begin() + 4 * (from + i)));
          }
        }
      }
      case "BF16" -> {
        for (long i = 0; i < count; i++) {
          int bits = (data.get(U16, e.begin() + 2 * (from + i)) & 0xFFFF) << 16;
          dst.setAtIndex(ValueLayout.JAVA_FLOAT, dstOffset + i, Float.intBitsToFloat(bits));
        }
      }
      case "F16" -> {
        for (long i = 0; i < count; i++) {
          dst.setAtIndex(
              ValueLayout.JAVA_FLOAT,
              dstOffset + i,
              Float.float16ToFloat(data.get(U16, e.begin() + 2 * (from + i))));
        }
      }
      default ->
          throw new SafetensorsException(
              path
                  + ": tensor "
                  + name
                  + " has dtype "
                  + e.dtype()
                  + "; cria reads F32, F16 and BF16");
    }
  }

  /** Tensor {@code name} as a new float array (fewer than 2^31 elements). */
  public float[] readFloats(String name) {
    Entry e = entry(name);
    float[] out = new float[Math.toIntExact(e.elements())];
    read(name, MemorySegment.ofArray(out), 0);
    return out;
  }

  @Override
  public void close() {
    arena.close();
  }
}
