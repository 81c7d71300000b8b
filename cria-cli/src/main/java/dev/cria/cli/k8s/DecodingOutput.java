package dev.cria.cli.k8s;

import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Bytes of UTF-8 text, as a pod's log arrives in pieces, printed as characters: a character whose
 * bytes are split across two writes is held until its last byte comes, and printed whole. Bytes
 * that are not UTF-8 print as U+FFFD, as {@code kubectl logs} shows them in a UTF-8 terminal.
 */
final class DecodingOutput extends OutputStream {
  private final PrintWriter out;
  private final CharsetDecoder decoder =
      StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPLACE)
          .onUnmappableCharacter(CodingErrorAction.REPLACE);
  private final ByteBuffer pending = ByteBuffer.allocate(8192);
  private final CharBuffer chars = CharBuffer.allocate(8192);

  DecodingOutput(PrintWriter out) {
    this.out = out;
  }

  @Override
  public void write(int b) {
    write(new byte[] {(byte) b}, 0, 1);
  }

  @Override
  public synchronized void write(byte[] b, int off, int len) {
    while (len > 0) {
      int n = Math.min(len, pending.remaining());
      pending.put(b, off, n);
      off += n;
      len -= n;
      pending.flip();
      drain(false);
      pending.compact(); // an incomplete character's first bytes stay for the next write
    }
    out.flush();
  }

  /** Prints what the pending bytes decode to; at the end, an incomplete character as U+FFFD. */
  private void drain(boolean endOfInput) {
    while (true) {
      var result = decoder.decode(pending, chars, endOfInput);
      chars.flip();
      out.append(chars);
      chars.clear();
      if (!result.isOverflow()) {
        return;
      }
    }
  }

  /** Prints what is left (an incomplete character, as U+FFFD). */
  @Override
  public synchronized void close() {
    pending.flip();
    drain(true);
    decoder.flush(chars);
    chars.flip();
    out.append(chars);
    chars.clear();
    pending.clear();
    out.flush();
  }
}
