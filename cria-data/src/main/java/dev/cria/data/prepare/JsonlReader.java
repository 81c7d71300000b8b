package dev.cria.data.prepare;

import io.airlift.compress.v3.zstd.ZstdInputStream;
import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * Reads JSONL files one after another and hands out their lines in {@link LineBatch}es of about
 * {@code batchBytes}. Lines end at {@code \n} (a {@code \r} before it stays, and is JSON
 * whitespace). {@code .gz} and {@code .zst} files are decompressed on the fly. Not thread-safe: one
 * reader thread.
 */
final class JsonlReader implements AutoCloseable {
  private final List<Path> files;
  private final int batchBytes;
  // The lines handed out: [fromLine, toLine) counted from 0 over all files.
  private final long fromLine;
  private final long toLine;
  private long linesRead;
  private int fileIndex = -1;
  private CountingInputStream counted;
  private InputStream in;
  private long lineNumber;
  private long bytesOfFinishedFiles;
  // Bytes read from the current file but not yet handed out: buffer[bufferStart, bufferEnd).
  private byte[] buffer;
  private int bufferStart;
  private int bufferEnd;
  private boolean endOfFile = true;

  JsonlReader(List<Path> files, int batchBytes) {
    this(files, batchBytes, 0, Long.MAX_VALUE);
  }

  /**
   * A reader that hands out only lines {@code [fromLine, toLine)} (from 0, over all files in
   * order), reading the lines before them without keeping them and stopping after the last.
   */
  JsonlReader(List<Path> files, int batchBytes, long fromLine, long toLine) {
    this.files = files;
    this.batchBytes = batchBytes;
    this.buffer = new byte[Math.max(batchBytes, 1 << 16)];
    this.fromLine = fromLine;
    this.toLine = toLine;
  }

  /** The number of lines in {@code files}, as a reader cuts them. */
  static long countLines(List<Path> files) throws IOException {
    long lines = 0;
    try (JsonlReader reader = new JsonlReader(files, 1 << 20)) {
      for (LineBatch b = reader.next(); b != null; b = reader.next()) {
        lines += b.count();
      }
    }
    return lines;
  }

  /** Total size of the inputs as stored, for the ETA. */
  static long totalBytes(List<Path> files) throws IOException {
    long total = 0;
    for (Path f : files) {
      total += Files.size(f);
    }
    return total;
  }

  /** The next batch, or null after the last line of the last file (or of the range). */
  LineBatch next() throws IOException {
    while (linesRead < toLine) {
      if (endOfFile && bufferStart == bufferEnd) {
        if (!openNextFile()) {
          return null;
        }
      }
      LineBatch batch = takeLines();
      if (batch == null) {
        continue;
      }
      long first = linesRead;
      linesRead += batch.count();
      long keepFrom = Math.max(first, fromLine);
      long keepTo = Math.min(linesRead, toLine);
      if (keepFrom >= keepTo) {
        continue; // before the range
      }
      return trim(batch, (int) (keepFrom - first), (int) (keepTo - first));
    }
    return null;
  }

  private static LineBatch trim(LineBatch b, int from, int to) {
    if (from == 0 && to == b.count()) {
      return b;
    }
    return new LineBatch(
        b.file(),
        b.firstLine() + from,
        b.data(),
        Arrays.copyOfRange(b.starts(), from, to),
        Arrays.copyOfRange(b.ends(), from, to),
        to - from,
        b.inputBytesDone());
  }

  private boolean openNextFile() throws IOException {
    closeCurrent();
    if (++fileIndex >= files.size()) {
      return false;
    }
    Path file = files.get(fileIndex);
    String name = file.getFileName().toString();
    counted = new CountingInputStream(Files.newInputStream(file));
    try {
      if (name.endsWith(".gz")) {
        in = new GZIPInputStream(counted, 1 << 16);
      } else if (name.endsWith(".zst") || name.endsWith(".zstd")) {
        in = new ZstdInputStream(new BufferedInputStream(counted, 1 << 16));
      } else {
        in = counted;
      }
    } catch (IOException e) {
      counted.close();
      throw new IOException(
          file
              + ": not a "
              + (name.endsWith(".gz") ? "gzip" : "zstd")
              + " file ("
              + e.getMessage()
              + ")",
          e);
    }
    lineNumber = 0;
    bufferStart = bufferEnd = 0;
    endOfFile = false;
    return true;
  }

  /** Cuts whole lines worth about batchBytes from the buffer, reading more as needed. */
  private LineBatch takeLines() throws IOException {
    int[] starts = new int[64];
    int[] ends = new int[64];
    int count = 0;
    int scan = bufferStart;
    while (true) {
      int newline = indexOf(buffer, (byte) '\n', scan, bufferEnd);
      if (newline >= 0) {
        if (count == starts.length) {
          starts = Arrays.copyOf(starts, count * 2);
          ends = Arrays.copyOf(ends, count * 2);
        }
        starts[count] = scan;
        ends[count] = newline;
        count++;
        scan = newline + 1;
        if (scan - bufferStart >= batchBytes) {
          break;
        }
        continue;
      }
      if (endOfFile) {
        if (scan < bufferEnd) { // a last line without a line break
          if (count == starts.length) {
            starts = Arrays.copyOf(starts, count + 1);
            ends = Arrays.copyOf(ends, count + 1);
          }
          starts[count] = scan;
          ends[count] = bufferEnd;
          count++;
          scan = bufferEnd;
        }
        break;
      }
      // Need more bytes: compact the unread tail (from the first line of this batch) and fill.
      int keep = bufferEnd - bufferStart;
      if (bufferStart > 0) {
        System.arraycopy(buffer, bufferStart, buffer, 0, keep);
        for (int k = 0; k < count; k++) {
          starts[k] -= bufferStart;
          ends[k] -= bufferStart;
        }
        scan -= bufferStart;
        bufferStart = 0;
        bufferEnd = keep;
      }
      if (bufferEnd == buffer.length) {
        buffer = Arrays.copyOf(buffer, buffer.length * 2);
      }
      int n;
      try {
        n = in.read(buffer, bufferEnd, buffer.length - bufferEnd);
      } catch (IOException e) {
        long whole = lineNumber + count; // the lines cut before the bytes that failed
        throw new IOException(
            files.get(fileIndex)
                + ": cannot be read"
                + (whole > 0 ? " after line " + whole : "")
                + ", truncated or damaged ("
                + e.getMessage()
                + ")",
            e);
      }
      if (n < 0) {
        endOfFile = true;
      } else {
        bufferEnd += n;
      }
    }
    if (count == 0) {
      bufferStart = scan;
      return null;
    }
    int from = starts[0];
    byte[] data = Arrays.copyOfRange(buffer, from, scan);
    for (int k = 0; k < count; k++) {
      starts[k] -= from;
      ends[k] -= from;
    }
    bufferStart = scan;
    long firstLine = lineNumber + 1;
    lineNumber += count;
    long done = bytesOfFinishedFiles + counted.count();
    return new LineBatch(files.get(fileIndex), firstLine, data, starts, ends, count, done);
  }

  private static int indexOf(byte[] b, byte value, int from, int to) {
    for (int i = from; i < to; i++) {
      if (b[i] == value) {
        return i;
      }
    }
    return -1;
  }

  private void closeCurrent() throws IOException {
    if (in != null) {
      bytesOfFinishedFiles += counted.count();
      in.close();
      in = null;
    }
  }

  @Override
  public void close() throws IOException {
    closeCurrent();
  }

  /** Counts bytes read from the file as stored. */
  private static final class CountingInputStream extends FilterInputStream {
    private long count;

    CountingInputStream(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0) {
        count++;
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      if (n > 0) {
        count += n;
      }
      return n;
    }

    long count() {
      return count;
    }
  }
}
