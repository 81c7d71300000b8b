package dev.cria.data.indexed;

import java.nio.file.Path;

/** The file names and header layout shared by the reader and the writer. */
final class IndexedDatasetFormat {
  /** {@code MMIDIDX\0\0}: the first 9 bytes of every {@code .idx}. */
  static final byte[] MAGIC = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};

  static final long VERSION = 1;

  /** magic (9) + version (8) + dtype code (1) + sequence count (8) + document index length (8). */
  static final int HEADER_BYTES = 9 + 8 + 1 + 8 + 8;

  private IndexedDatasetFormat() {}

  static Path binPath(Path prefix) {
    return prefix.resolveSibling(prefix.getFileName() + ".bin");
  }

  static Path idxPath(Path prefix) {
    return prefix.resolveSibling(prefix.getFileName() + ".idx");
  }
}
