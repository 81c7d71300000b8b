package dev.cria.core.checksum;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * Checksums of whole files: CRC-32C (Castagnoli), which the JDK computes with the processor's own
 * instruction. It guards against torn and bit-flipped files, not against tampering.
 */
public final class Checksums {
  private static final int CHUNK = 1 << 22;

  private Checksums() {}

  /** The CRC-32C of a whole file, read in 4 MiB chunks. */
  public static long crc32c(Path file) throws IOException {
    CRC32C crc = new CRC32C();
    ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      while (ch.read(buffer.clear()) > 0) {
        crc.update(buffer.flip());
      }
    }
    return crc.getValue();
  }

  /** The CRC-32C of {@code bytes}. */
  public static long crc32c(byte[] bytes) {
    CRC32C crc = new CRC32C();
    crc.update(bytes);
    return crc.getValue();
  }
}
