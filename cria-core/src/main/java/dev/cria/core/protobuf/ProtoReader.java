package dev.cria.core.protobuf;

import java.nio.charset.StandardCharsets;

/** Reads the protobuf wire format: varints, fixed 32/64-bit fields and length-delimited fields. */
public final class ProtoReader {
  public static final int VARINT = 0;
  public static final int FIXED64 = 1;
  public static final int LENGTH_DELIMITED = 2;
  public static final int FIXED32 = 5;

  private final byte[] buffer;
  private int position;
  private final int limit;

  public ProtoReader(byte[] buffer) {
    this(buffer, 0, buffer.length);
  }

  private ProtoReader(byte[] buffer, int from, int to) {
    this.buffer = buffer;
    this.position = from;
    this.limit = to;
  }

  public boolean hasMore() {
    return position < limit;
  }

  /** Reads a field key: {@code fieldNumber << 3 | wireType}. */
  public int readTag() {
    return (int) readVarint();
  }

  public long readVarint() {
    long result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      byte b = readByte();
      result |= (long) (b & 0x7F) << shift;
      if (b >= 0) {
        return result;
      }
    }
    throw new ProtoException("varint longer than 10 bytes at offset " + position);
  }

  public double readDouble() {
    long bits = 0;
    for (int i = 0; i < 8; i++) {
      bits |= (long) (readByte() & 0xFF) << (8 * i);
    }
    return Double.longBitsToDouble(bits);
  }

  public float readFloat() {
    return Float.intBitsToFloat(readFixed32());
  }

  public int readFixed32() {
    int v =
        (readByte() & 0xFF)
            | (readByte() & 0xFF) << 8
            | (readByte() & 0xFF) << 16
            | (readByte() & 0xFF) << 24;
    return v;
  }

  /** Reads a length-delimited field as a nested reader over its bytes. */
  public ProtoReader readMessage() {
    int length = readLength();
    ProtoReader nested = new ProtoReader(buffer, position, position + length);
    position += length;
    return nested;
  }

  public String readString() {
    int length = readLength();
    String s = new String(buffer, position, length, StandardCharsets.UTF_8);
    position += length;
    return s;
  }

  public byte[] readBytes() {
    int length = readLength();
    byte[] out = java.util.Arrays.copyOfRange(buffer, position, position + length);
    position += length;
    return out;
  }

  public void skip(int wireType) {
    switch (wireType) {
      case VARINT -> readVarint();
      case FIXED64 -> advance(8);
      case LENGTH_DELIMITED -> advance(readLength());
      case FIXED32 -> advance(4);
      default ->
          throw new ProtoException("unsupported wire type " + wireType + " at offset " + position);
    }
  }

  private int readLength() {
    long length = readVarint();
    if (length < 0 || position + length > limit) {
      throw new ProtoException(
          "field length " + length + " runs past the end at offset " + position);
    }
    return (int) length;
  }

  private void advance(int n) {
    if (position + n > limit) {
      throw new ProtoException("truncated field at offset " + position);
    }
    position += n;
  }

  private byte readByte() {
    if (position >= limit) {
      throw new ProtoException("truncated message at offset " + position);
    }
    return buffer[position++];
  }

  /** The input is not a well-formed protobuf message. */
  public static final class ProtoException extends RuntimeException {
    public ProtoException(String message) {
      super(message);
    }
  }
}
