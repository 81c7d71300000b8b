package dev.cria.data.indexed;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * A Megatron {@code MMIDIDX} v1 dataset opened read-only: both files are memory-mapped, nothing is
 * copied, every offset is a {@code long}. Thread-safe for reading; {@link #close()} unmaps.
 *
 * <p>Opening checks the header and that the index and the {@code .bin} agree in size, so a
 * truncated or mismatched pair is refused with a message naming the file.
 */
public final class IndexedDataset implements AutoCloseable {
  private static final ValueLayout.OfInt INT =
      ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong LONG =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort SHORT =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final Path prefix;
  private final Arena arena;
  private final MemorySegment index;
  private final MemorySegment tokens;
  private final TokenDtype dtype;
  private final long sequenceCount;
  private final long documentIndexLength;
  private final long sizesOffset;
  private final long pointersOffset;
  private final long documentIndexOffset;

  private IndexedDataset(Path prefix) throws IOException {
    this.prefix = prefix;
    this.arena = Arena.ofShared();
    try {
      Path idxPath = IndexedDatasetFormat.idxPath(prefix);
      Path binPath = IndexedDatasetFormat.binPath(prefix);
      this.index = map(idxPath);
      this.tokens = map(binPath);
      if (index.byteSize() < IndexedDatasetFormat.HEADER_BYTES
          || !Arrays.equals(
              index.asSlice(0, 9).toArray(ValueLayout.JAVA_BYTE), IndexedDatasetFormat.MAGIC)) {
        throw new IndexedDatasetException(idxPath + ": not a Megatron MMIDIDX index (bad magic)");
      }
      long version = index.get(LONG, 9);
      if (version != IndexedDatasetFormat.VERSION) {
        throw new IndexedDatasetException(
            idxPath + ": MMIDIDX version " + version + " is not supported (only 1)");
      }
      int code = index.get(ValueLayout.JAVA_BYTE, 17) & 0xFF;
      try {
        this.dtype = TokenDtype.ofCode(code);
      } catch (IllegalArgumentException e) {
        throw new IndexedDatasetException(idxPath + ": " + e.getMessage());
      }
      this.sequenceCount = index.get(LONG, 18);
      this.documentIndexLength = index.get(LONG, 26);
      this.sizesOffset = IndexedDatasetFormat.HEADER_BYTES;
      this.pointersOffset = sizesOffset + 4 * sequenceCount;
      this.documentIndexOffset = pointersOffset + 8 * sequenceCount;
      long expectedIndexBytes = documentIndexOffset + 8 * documentIndexLength;
      if (sequenceCount < 0 || documentIndexLength < 1 || expectedIndexBytes != index.byteSize()) {
        throw new IndexedDatasetException(
            idxPath
                + ": index is "
                + index.byteSize()
                + " bytes but its header ("
                + sequenceCount
                + " sequences, "
                + documentIndexLength
                + " document entries) needs "
                + expectedIndexBytes);
      }
      long expectedBinBytes =
          sequenceCount == 0
              ? 0
              : pointer(sequenceCount - 1) + (long) size(sequenceCount - 1) * dtype.bytes();
      if (expectedBinBytes != tokens.byteSize()) {
        throw new IndexedDatasetException(
            binPath
                + ": is "
                + tokens.byteSize()
                + " bytes but "
                + idxPath
                + " describes "
                + expectedBinBytes
                + " (the pair does not belong together or is truncated)");
      }
    } catch (IOException | RuntimeException e) {
      arena.close();
      throw e;
    }
  }

  /** Opens the dataset {@code PREFIX.bin}/{@code PREFIX.idx}. */
  public static IndexedDataset open(Path prefix) throws IOException {
    return new IndexedDataset(prefix);
  }

  private MemorySegment map(Path path) throws IOException {
    if (java.nio.file.Files.isDirectory(path)) {
      throw new IndexedDatasetException(path + ": a directory, not a dataset file");
    }
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
    } catch (NoSuchFileException e) {
      throw new IndexedDatasetException(path + ": no such file");
    }
  }

  public Path prefix() {
    return prefix;
  }

  public TokenDtype dtype() {
    return dtype;
  }

  /** Number of sequences (one per document unless sentences were split). */
  public long sequenceCount() {
    return sequenceCount;
  }

  /** Number of documents: entries in the document index minus one. */
  public long documentCount() {
    return documentIndexLength - 1;
  }

  /** Length in tokens of sequence {@code i}. */
  public int size(long i) {
    return index.get(INT, sizesOffset + 4 * i);
  }

  /** Byte offset of sequence {@code i} in the {@code .bin}. */
  public long pointer(long i) {
    return index.get(LONG, pointersOffset + 8 * i);
  }

  /** Entry {@code i} of the document index: the first sequence of document {@code i}. */
  public long documentIndex(long i) {
    return index.get(LONG, documentIndexOffset + 8 * i);
  }

  /** Total number of tokens in the {@code .bin}. */
  public long tokenCount() {
    return tokens.byteSize() / dtype.bytes();
  }

  /** Token {@code position} of the whole {@code .bin}, counted in elements. */
  public int token(long position) {
    long offset = position * dtype.bytes();
    return switch (dtype) {
      case UINT8 -> tokens.get(ValueLayout.JAVA_BYTE, offset) & 0xFF;
      case INT8 -> tokens.get(ValueLayout.JAVA_BYTE, offset);
      case UINT16 -> tokens.get(SHORT, offset) & 0xFFFF;
      case INT16 -> tokens.get(SHORT, offset);
      case INT32 -> tokens.get(INT, offset);
      case INT64 -> Math.toIntExact(tokens.get(LONG, offset));
      default -> throw new IllegalStateException("dtype " + dtype + " does not hold token ids");
    };
  }

  /**
   * Copies {@code length} tokens of sequence {@code i}, starting {@code offset} tokens in, into
   * {@code out[outFrom..]}.
   */
  public void read(long i, int offset, int length, int[] out, int outFrom) {
    int size = size(i);
    if (offset < 0 || length < 0 || offset + length > size) {
      throw new IndexOutOfBoundsException(
          "tokens [" + offset + ", " + (offset + length) + ") of a sequence of " + size);
    }
    long first = pointer(i) / dtype.bytes() + offset;
    for (int k = 0; k < length; k++) {
      out[outFrom + k] = token(first + k);
    }
  }

  /**
   * The largest token id in sequences {@code [first, end)}, or -1 when they hold no token: a model
   * whose vocabulary is not larger cannot train on them.
   */
  public long maxToken(long first, long end) {
    long max = -1;
    for (long i = first; i < end; i++) {
      long from = pointer(i) / dtype.bytes();
      long to = from + size(i);
      for (long p = from; p < to; p++) {
        int t = token(p);
        if (t > max) {
          max = t;
        }
      }
    }
    return max;
  }

  /** All tokens of sequence {@code i}. */
  public int[] sequence(long i) {
    int[] out = new int[size(i)];
    read(i, 0, out.length, out, 0);
    return out;
  }

  @Override
  public void close() {
    arena.close();
  }
}
