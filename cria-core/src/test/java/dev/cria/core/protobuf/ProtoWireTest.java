package dev.cria.core.protobuf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ProtoWireTest {
  @Test
  void aVarintEncodesAsTheWireFormatSays() {
    // field 1, varint 150: the protobuf documentation's example, 08 96 01
    assertThat(new ProtoWriter().varint(1, 150).toByteArray()).containsExactly(0x08, 0x96, 0x01);
  }

  @Test
  void everyFieldKindReadsBackAsWritten() {
    byte[] bytes =
        new ProtoWriter()
            .varint(1, -2L)
            .bool(2, true)
            .floatField(3, 2.5f)
            .doubleField(4, -1e-300)
            .string(5, "tag/ü")
            .message(6, new ProtoWriter().varint(1, 7))
            .toByteArray();
    ProtoReader r = new ProtoReader(bytes);
    assertThat(r.readTag()).isEqualTo(1 << 3 | ProtoReader.VARINT);
    assertThat(r.readVarint()).isEqualTo(-2L);
    assertThat(r.readTag()).isEqualTo(2 << 3 | ProtoReader.VARINT);
    assertThat(r.readVarint()).isEqualTo(1L);
    assertThat(r.readTag()).isEqualTo(3 << 3 | ProtoReader.FIXED32);
    assertThat(r.readFloat()).isEqualTo(2.5f);
    assertThat(r.readTag()).isEqualTo(4 << 3 | ProtoReader.FIXED64);
    assertThat(r.readDouble()).isEqualTo(-1e-300);
    assertThat(r.readTag()).isEqualTo(5 << 3 | ProtoReader.LENGTH_DELIMITED);
    assertThat(r.readString()).isEqualTo("tag/ü");
    assertThat(r.readTag()).isEqualTo(6 << 3 | ProtoReader.LENGTH_DELIMITED);
    ProtoReader nested = r.readMessage();
    assertThat(nested.readTag()).isEqualTo(1 << 3);
    assertThat(nested.readVarint()).isEqualTo(7L);
    assertThat(r.hasMore()).isFalse();
  }

  @Test
  void aTruncatedMessageIsAnError() {
    byte[] bytes = new ProtoWriter().string(1, "hello").toByteArray();
    ProtoReader r = new ProtoReader(java.util.Arrays.copyOf(bytes, bytes.length - 2));
    r.readTag();
    assertThatThrownBy(r::readString).isInstanceOf(RuntimeException.class);
  }
}
