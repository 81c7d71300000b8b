package dev.cria.data.indexed;

import dev.cria.core.io.AtomicFiles;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Writes a Megatron {@code MMIDIDX} v1 dataset, {@code PREFIX.bin} and {@code PREFIX.idx}, byte for
 * byte as Megatron's {@code MMapIndexedDatasetBuilder} does.
 *
 * <p>Both files are written under temporary names and renamed only by {@link #commit()}; closing
 * without committing deletes them, so a failed run never leaves a pair that looks complete and
 * never touches an existing dataset at the same prefix. Memory is one int and two longs per
 * sequence; tokens stream to disk.
 */
public final class IndexedDatasetWriter implements AutoCloseable {
  private final Path prefix;
  private final TokenDtype dtype;
  private final Path binTemporary;
  private final OutputStream bin;
  private final ByteBuffer scratch;
  private final long maxId;

  private int[] sizes = new int[1024];
  private int sequenceCount;
  private long[] documentIndex = new long[1024];
  private int documentIndexLength;
  private long tokenCount;
  private boolean finished;

  private IndexedDatasetWriter(Path prefix, TokenDtype dtype) throws IOException {
    if (!dtype.isInteger()) {
      throw new IllegalArgumentException("token ids need an integer dtype, not " + dtype);
    }
    this.prefix = prefix;
    this.dtype = dtype;
    Path binTarget = IndexedDatasetFormat.binPath(prefix);
    Files.createDirectories(binTarget.toAbsolutePath().getParent());
    // what an earlier prepare that was killed left behind (they are never renamed into place)
    AtomicFiles.removeStaleTemporaries(binTarget);
    AtomicFiles.removeStaleTemporaries(IndexedDatasetFormat.idxPath(prefix));
    this.binTemporary = AtomicFiles.temporarySibling(binTarget);
    this.bin =
        new BufferedOutputStream(
            Files.newOutputStream(
                binTemporary, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
            1 << 20);
    this.scratch = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    this.maxId =
        switch (dtype) {
          case UINT8 -> 0xFF;
          case INT8 -> 0x7F;
          case INT16 -> 0x7FFF;
          case UINT16 -> 0xFFFF;
          default -> Integer.MAX_VALUE;
        };
    documentIndex[documentIndexLength++] = 0;
  }

  /**
   * Whether a dataset, or either of its files, is at {@code prefix} ({@code PREFIX.bin} or {@code
   * PREFIX.idx}): what a writer there would replace.
   */
  public static boolean existsAt(Path prefix) {
    return java.nio.file.Files.exists(IndexedDatasetFormat.binPath(prefix))
        || java.nio.file.Files.exists(IndexedDatasetFormat.idxPath(prefix));
  }

  /** Starts a dataset at {@code prefix} (files {@code PREFIX.bin}, {@code PREFIX.idx}). */
  public static IndexedDatasetWriter create(Path prefix, TokenDtype dtype) throws IOException {
    return new IndexedDatasetWriter(prefix, dtype);
  }

  /** Appends one sequence of {@code length} ids from {@code ids[from]}. */
  public void addSequence(int[] ids, int from, int length) throws IOException {
    checkOpen();
    for (int i = from; i < from + length; i++) {
      int id = ids[i];
      if (id < 0 || id > maxId) {
        throw new IllegalArgumentException("token id " + id + " does not fit dtype " + dtype);
      }
      if (scratch.remaining() < dtype.bytes()) {
        flushScratch();
      }
      switch (dtype.bytes()) {
        case 1 -> scratch.put((byte) id);
        case 2 -> scratch.putShort((short) id);
        case 4 -> scratch.putInt(id);
        default -> scratch.putLong(id);
      }
    }
    flushScratch();
    if (sequenceCount == sizes.length) {
      sizes = Arrays.copyOf(sizes, sizes.length * 2);
    }
    sizes[sequenceCount++] = length;
    tokenCount += length;
  }

  /** Ends the current document: all sequences since the previous call belong to it. */
  public void endDocument() {
    checkOpen();
    if (documentIndexLength == documentIndex.length) {
      documentIndex = Arrays.copyOf(documentIndex, documentIndex.length * 2);
    }
    documentIndex[documentIndexLength++] = sequenceCount;
  }

  public int sequenceCount() {
    return sequenceCount;
  }

  public long tokenCount() {
    return tokenCount;
  }

  public int documentCount() {
    return documentIndexLength - 1;
  }

  /** Writes the index and moves both files into place: {@code .bin} first, then {@code .idx}. */
  public void commit() throws IOException {
    checkOpen();
    finished = true;
    bin.close();
    Path idxTarget = IndexedDatasetFormat.idxPath(prefix);
    Path idxTemporary = AtomicFiles.temporarySibling(idxTarget);
    try {
      try (OutputStream idx =
          new BufferedOutputStream(
              Files.newOutputStream(
                  idxTemporary, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
              1 << 20)) {
        writeIndex(idx);
      }
      AtomicFiles.commit(binTemporary, IndexedDatasetFormat.binPath(prefix));
      AtomicFiles.commit(idxTemporary, idxTarget);
    } finally {
      Files.deleteIfExists(idxTemporary);
      Files.deleteIfExists(binTemporary);
    }
  }

  private void writeIndex(OutputStream out) throws IOException {
    ByteBuffer header =
        ByteBuffer.allocate(IndexedDatasetFormat.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    header.put(IndexedDatasetFormat.MAGIC);
    header.putLong(IndexedDatasetFormat.VERSION);
    header.put((byte) dtype.code());
    header.putLong(sequenceCount);
    header.putLong(documentIndexLength);
    out.write(header.array());
    ByteBuffer buffer = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < sequenceCount; i++) {
      buffer = drainIfFull(out, buffer, 4);
      buffer.putInt(sizes[i]);
    }
    long pointer = 0;
    for (int i = 0; i < sequenceCount; i++) {
      buffer = drainIfFull(out, buffer, 8);
      buffer.putLong(pointer);
      pointer += (long) sizes[i] * dtype.bytes();
    }
    for (int i = 0; i < documentIndexLength; i++) {
      buffer = drainIfFull(out, buffer, 8);
      buffer.putLong(documentIndex[i]);
    }
    out.write(buffer.array(), 0, buffer.position());
  }

  private static ByteBuffer drainIfFull(OutputStream out, ByteBuffer buffer, int needed)
      throws IOException {
    if (buffer.remaining() < needed) {
      out.write(buffer.array(), 0, buffer.position());
      buffer.clear();
    }
    return buffer;
  }

  private void flushScratch() throws IOException {
    bin.write(scratch.array(), 0, scratch.position());
    scratch.clear();
  }

  private void checkOpen() {
    if (finished) {
      throw new IllegalStateException("dataset " + prefix + " is already committed or closed");
    }
  }

  /**
   * Abandons an uncommitted dataset, deleting its temporary files. Safe after {@link #commit()}.
   */
  @Override
  public void close() throws IOException {
    if (!finished) {
      finished = true;
      bin.close();
    }
    Files.deleteIfExists(binTemporary);
  }
}
