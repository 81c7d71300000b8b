package dev.cria.core.protobuf;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Writes the protobuf wire format: varints, fixed 32/64-bit fields and length-delimited fields. */
public final class ProtoWriter {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();

  public ProtoWriter varint(int field, long value) {
    tag(field, ProtoReader.VARINT);
    rawVarint(value);
    return this;
  }

  public ProtoWriter bool(int field, boolean value) {
    return varint(field, value ? 1 : 0);
  }

  public ProtoWriter floatField(int field, float value) {
    tag(field, ProtoReader.FIXED32);
    int bits = Float.floatToIntBits(value);
    for (int i = 0; i < 4; i++) {
      out.write(bits >>> (8 * i));
    }
    return this;
  }

  public ProtoWriter doubleField(int field, double value) {
    tag(field, ProtoReader.FIXED64);
    long bits = Double.doubleToLongBits(value);
    for (int i = 0; i < 8; i++) {
      out.write((int) (bits >>> (8 * i)));
    }
    return this;
  }

  public ProtoWriter string(int field, String value) {
    return bytes(field, value.getBytes(StandardCharsets.UTF_8));
  }

  public ProtoWriter bytes(int field, byte[] value) {
    tag(field, ProtoReader.LENGTH_DELIMITED);
    rawVarint(value.length);
    out.writeBytes(value);
    return this;
  }

  public ProtoWriter message(int field, ProtoWriter nested) {
    return bytes(field, nested.toByteArray());
  }

  public byte[] toByteArray() {
    return out.toByteArray();
  }

  private void tag(int field, int wireType) {
    rawVarint((long) field << 3 | wireType);
  }

  private void rawVarint(long value) {
    while ((value & ~0x7FL) != 0) {
      out.write((int) (value & 0x7F) | 0x80);
      value >>>= 7;
    }
    out.write((int) value);
  }
}
