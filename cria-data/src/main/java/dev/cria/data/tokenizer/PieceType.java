package dev.cria.data.tokenizer;

/**
 * The kind of a vocabulary entry, numbered as in SentencePiece's {@code
 * ModelProto.SentencePiece.Type}.
 */
public enum PieceType {
  /** An ordinary piece: a character or the result of a merge. */
  NORMAL(1),
  /** The unknown piece, {@code <unk>}. */
  UNKNOWN(2),
  /**
   * A control symbol such as {@code <s>} or {@code </s>}: never produced from text, decoded to "".
   */
  CONTROL(3),
  /** A piece the user asked for: matched whole in the text and never merged with neighbours. */
  USER_DEFINED(4),
  /** A piece kept in the vocabulary but never emitted: encoding splits it back into its parts. */
  UNUSED(5),
  /** A byte-fallback piece {@code <0xNN>}. */
  BYTE(6);

  private final int protoNumber;

  PieceType(int protoNumber) {
    this.protoNumber = protoNumber;
  }

  /** The number SentencePiece's protobuf uses for this type. */
  public int protoNumber() {
    return protoNumber;
  }

  /** The type with SentencePiece's number {@code n}; throws for an unknown number. */
  public static PieceType ofProtoNumber(int n) {
    for (PieceType t : values()) {
      if (t.protoNumber == n) {
        return t;
      }
    }
    throw new IllegalArgumentException("unknown SentencePiece piece type " + n);
  }

  /**
   * Whether the BPE merge loop may produce a piece of this type (SentencePiece's {@code pieces_}).
   */
  boolean isMergeable() {
    return this == NORMAL || this == USER_DEFINED || this == UNUSED;
  }
}
