package dev.cria.data.gpt;

import dev.cria.core.io.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * numpy's {@code .npy} format (version 1.0) for the integer arrays of the index cache, so that
 * numpy reads the files cria caches (and the other way round): little-endian {@code int32}, {@code
 * uint32} or {@code int64}, C order, one or two dimensions.
 */
final class NpyArrays {
  private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
  private static final Pattern HEADER =
      Pattern.compile(
          "\\{'descr': '([<|>][iu][48])', 'fortran_order': False, 'shape': \\((\\d+),\\s*(\\d*)\\),? *\\}");

  private NpyArrays() {}

  /** numpy's dtype strings for the types used here. */
  enum Dtype {
    INT32("<i4", 4),
    UINT32("<u4", 4),
    INT64("<i8", 8);

    final String descr;
    final int bytes;

    Dtype(String descr, int bytes) {
      this.descr = descr;
      this.bytes = bytes;
    }

    /** The smallest of int32 and int64 that holds every value in [min, max]. */
    static Dtype signedFor(long min, long max) {
      return min >= Integer.MIN_VALUE && max <= Integer.MAX_VALUE ? INT32 : INT64;
    }
  }

  /** Writes {@code values} with shape {@code [rows]} or {@code [rows, cols]} atomically. */
  static void write(Path file, Dtype dtype, long[] values, int cols) throws IOException {
    String shape =
        cols == 1 ? "(" + values.length + ",)" : "(" + values.length / cols + ", " + cols + ")";
    String dict =
        "{'descr': '" + dtype.descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    int unpadded = MAGIC.length + 2 + 2 + dict.length() + 1;
    int padding = (64 - unpadded % 64) % 64;
    String header = dict + " ".repeat(padding) + "\n";
    ByteBuffer buffer =
        ByteBuffer.allocate(MAGIC.length + 4 + header.length() + values.length * dtype.bytes)
            .order(ByteOrder.LITTLE_ENDIAN);
    buffer.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length());
    buffer.put(header.getBytes(StandardCharsets.US_ASCII));
    for (long v : values) {
      if (dtype.bytes == 4) {
        buffer.putInt((int) v);
      } else {
        buffer.putLong(v);
      }
    }
    AtomicFiles.write(file, buffer.array());
  }

  /** Reads a one- or two-dimensional integer array, flattened, with an unsigned int32 widened. */
  static long[] read(Path file) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    byte[] magic = new byte[MAGIC.length];
    if (b.remaining() < 10) {
      throw new IOException(file + ": too short for a .npy file");
    }
    b.get(magic);
    if (!java.util.Arrays.equals(magic, MAGIC) || b.get() != 1) {
      throw new IOException(file + ": not a version 1 .npy file");
    }
    b.get();
    int headerLength = Short.toUnsignedInt(b.getShort());
    if (b.remaining() < headerLength) {
      throw new IOException(file + ": truncated header");
    }
    byte[] header = new byte[headerLength];
    b.get(header);
    Matcher m = HEADER.matcher(new String(header, StandardCharsets.US_ASCII).strip());
    if (!m.matches()) {
      throw new IOException(
          file
              + ": unsupported .npy header "
              + new String(header, StandardCharsets.US_ASCII).strip());
    }
    String descr = m.group(1).replace('|', '<');
    long rows = Long.parseLong(m.group(2));
    long cols = m.group(3).isEmpty() ? 1 : Long.parseLong(m.group(3));
    Dtype dtype = null;
    for (Dtype d : Dtype.values()) {
      if (d.descr.equals(descr)) {
        dtype = d;
      }
    }
    if (dtype == null) {
      throw new IOException(file + ": unsupported dtype " + descr);
    }
    long count = rows * cols;
    if (count > Integer.MAX_VALUE - 8 || b.remaining() != count * dtype.bytes) {
      throw new IOException(
          file
              + ": expected "
              + count
              + " values of "
              + descr
              + ", found "
              + b.remaining()
              + " bytes");
    }
    long[] values = new long[(int) count];
    for (int i = 0; i < values.length; i++) {
      values[i] =
          switch (dtype) {
            case INT32 -> b.getInt();
            case UINT32 -> Integer.toUnsignedLong(b.getInt());
            case INT64 -> b.getLong();
          };
    }
    return values;
  }
}
