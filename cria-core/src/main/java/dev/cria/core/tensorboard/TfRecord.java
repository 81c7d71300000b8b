package dev.cria.core.tensorboard;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * TFRecord framing, as TensorBoard reads it: {@code uint64 length}, {@code uint32 masked CRC32C of
 * the length}, the data, {@code uint32 masked CRC32C of the data}, all little-endian.
 */
public final class TfRecord {
  private TfRecord() {}

  /** TensorFlow's CRC mask: rotate right by 15 bits and add a constant. */
  public static int maskedCrc(byte[] data, int offset, int length) {
    CRC32C crc = new CRC32C();
    crc.update(data, offset, length);
    int c = (int) crc.getValue();
    return ((c >>> 15) | (c << 17)) + 0xA282EAD8;
  }

  public static void write(OutputStream out, byte[] data) throws IOException {
    ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
    header.putLong(data.length);
    header.putInt(maskedCrc(header.array(), 0, 8));
    ByteBuffer footer = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
    footer.putInt(maskedCrc(data, 0, data.length));
    out.write(header.array());
    out.write(data);
    out.write(footer.array());
  }

  /** The next record's data, or null at a clean end of file; checks both CRCs. */
  public static byte[] read(InputStream in, String source) throws IOException {
    DataInputStream data = new DataInputStream(in);
    byte[] header = new byte[12];
    int first = data.read();
    if (first < 0) {
      return null;
    }
    header[0] = (byte) first;
    try {
      data.readFully(header, 1, 11);
      ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
      long length = h.getLong();
      if (h.getInt() != maskedCrc(header, 0, 8)) {
        throw new IOException(source + ": corrupt TFRecord length (CRC mismatch)");
      }
      if (length < 0 || length > (1 << 30)) {
        throw new IOException(source + ": implausible TFRecord length " + length);
      }
      byte[] body = new byte[(int) length];
      data.readFully(body);
      byte[] footer = new byte[4];
      data.readFully(footer);
      if (ByteBuffer.wrap(footer).order(ByteOrder.LITTLE_ENDIAN).getInt()
          != maskedCrc(body, 0, body.length)) {
        throw new IOException(source + ": corrupt TFRecord data (CRC mismatch)");
      }
      return body;
    } catch (EOFException e) {
      throw new Truncated(source + ": truncated TFRecord", e);
    }
  }

  /** A record cut short: the end of a file still being written, or of a damaged one. */
  public static final class Truncated extends IOException {
    Truncated(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
