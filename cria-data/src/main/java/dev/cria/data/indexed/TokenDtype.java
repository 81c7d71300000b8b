package dev.cria.data.indexed;

/** The element type of a {@code .bin} file, with Megatron's one-byte code in the {@code .idx}. */
public enum TokenDtype {
  UINT8(1, 1),
  INT8(2, 1),
  INT16(3, 2),
  INT32(4, 4),
  INT64(5, 8),
  FLOAT64(6, 8),
  DOUBLE(7, 8),
  UINT16(8, 2);

  private final int code;
  private final int bytes;

  TokenDtype(int code, int bytes) {
    this.code = code;
    this.bytes = bytes;
  }

  /** Megatron's code for this type in the {@code .idx} header. */
  public int code() {
    return code;
  }

  /** Bytes per element. */
  public int bytes() {
    return bytes;
  }

  /** Megatron's choice for token ids: uint16 below a vocabulary of 65500, else int32. */
  public static TokenDtype forVocabulary(int vocabSize) {
    return vocabSize < 65500 ? UINT16 : INT32;
  }

  /** The type with Megatron code {@code code}; throws with the code in the message otherwise. */
  public static TokenDtype ofCode(int code) {
    for (TokenDtype t : values()) {
      if (t.code == code) {
        return t;
      }
    }
    throw new IllegalArgumentException("unknown dtype code " + code);
  }

  /** Whether the type holds token ids (an integer type). */
  public boolean isInteger() {
    return this != FLOAT64 && this != DOUBLE;
  }
}
