package dev.cria.data.tokenizer;

import dev.cria.core.protobuf.ProtoReader;
import dev.cria.core.protobuf.ProtoWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * SentencePiece's {@code tokenizer.model}: a serialized {@code ModelProto} holding the pieces
 * (text, score, type), the trainer spec (model type, special ids, byte fallback) and the normalizer
 * spec.
 *
 * <p>cria reads BPE models whose normalizer has no character map ("identity", as Llama's); other
 * models are refused with a message that says why.
 */
public final class SentencePieceModelFile {
  // ModelProto
  private static final int PIECES = 1;
  private static final int TRAINER_SPEC = 2;
  private static final int NORMALIZER_SPEC = 3;
  // ModelProto.SentencePiece
  private static final int PIECE_TEXT = 1;
  private static final int PIECE_SCORE = 2;
  private static final int PIECE_TYPE = 3;
  // TrainerSpec
  private static final int MODEL_TYPE = 3;
  private static final int VOCAB_SIZE = 4;
  private static final int SPLIT_BY_WHITESPACE = 22;
  private static final int TREAT_WHITESPACE_AS_SUFFIX = 24;
  private static final int BYTE_FALLBACK = 35;
  private static final int UNK_ID = 40;
  private static final int BOS_ID = 41;
  private static final int EOS_ID = 42;
  private static final int PAD_ID = 43;
  private static final int MODEL_TYPE_BPE = 2;
  // NormalizerSpec
  private static final int NORMALIZER_NAME = 1;
  private static final int PRECOMPILED_CHARSMAP = 2;
  private static final int ADD_DUMMY_PREFIX = 3;
  private static final int REMOVE_EXTRA_WHITESPACES = 4;
  private static final int ESCAPE_WHITESPACES = 5;

  private SentencePieceModelFile() {}

  /** Parses a serialized ModelProto; {@code source} names it in error messages. */
  public static Tokenizer read(byte[] bytes, String source) {
    try {
      return parse(bytes, source);
    } catch (ProtoReader.ProtoException e) {
      throw new TokenizerFormatException(
          source + ": not a SentencePiece model (" + e.getMessage() + ")");
    }
  }

  private static Tokenizer parse(byte[] bytes, String source) {
    List<String> pieces = new ArrayList<>();
    List<Float> scores = new ArrayList<>();
    List<PieceType> types = new ArrayList<>();
    int modelType = 1; // proto default: UNIGRAM
    boolean byteFallback = false;
    boolean treatWhitespaceAsSuffix = false;
    int unk = 0;
    int bos = 1;
    int eos = 2;
    int pad = -1;
    String normalizerName = "";
    int charsmapLength = 0;
    boolean addDummyPrefix = true;
    boolean removeExtraWhitespaces = true;
    boolean escapeWhitespaces = true;

    ProtoReader model = new ProtoReader(bytes);
    while (model.hasMore()) {
      int tag = model.readTag();
      switch (tag >>> 3) {
        case PIECES -> {
          ProtoReader p = model.readMessage();
          String text = "";
          float score = 0f;
          PieceType type = PieceType.NORMAL;
          while (p.hasMore()) {
            int t = p.readTag();
            switch (t >>> 3) {
              case PIECE_TEXT -> text = p.readString();
              case PIECE_SCORE -> score = p.readFloat();
              case PIECE_TYPE -> type = PieceType.ofProtoNumber((int) p.readVarint());
              default -> p.skip(t & 7);
            }
          }
          pieces.add(text);
          scores.add(score);
          types.add(type);
        }
        case TRAINER_SPEC -> {
          ProtoReader t = model.readMessage();
          while (t.hasMore()) {
            int tt = t.readTag();
            switch (tt >>> 3) {
              case MODEL_TYPE -> modelType = (int) t.readVarint();
              case BYTE_FALLBACK -> byteFallback = t.readVarint() != 0;
              case TREAT_WHITESPACE_AS_SUFFIX -> treatWhitespaceAsSuffix = t.readVarint() != 0;
              case UNK_ID -> unk = (int) t.readVarint();
              case BOS_ID -> bos = (int) t.readVarint();
              case EOS_ID -> eos = (int) t.readVarint();
              case PAD_ID -> pad = (int) t.readVarint();
              default -> t.skip(tt & 7);
            }
          }
        }
        case NORMALIZER_SPEC -> {
          ProtoReader n = model.readMessage();
          while (n.hasMore()) {
            int nt = n.readTag();
            switch (nt >>> 3) {
              case NORMALIZER_NAME -> normalizerName = n.readString();
              case PRECOMPILED_CHARSMAP -> charsmapLength = n.readBytes().length;
              case ADD_DUMMY_PREFIX -> addDummyPrefix = n.readVarint() != 0;
              case REMOVE_EXTRA_WHITESPACES -> removeExtraWhitespaces = n.readVarint() != 0;
              case ESCAPE_WHITESPACES -> escapeWhitespaces = n.readVarint() != 0;
              default -> n.skip(nt & 7);
            }
          }
        }
        default -> model.skip(tag & 7);
      }
    }

    if (pieces.isEmpty()) {
      throw new TokenizerFormatException(source + ": SentencePiece model has no pieces");
    }
    if (modelType != MODEL_TYPE_BPE) {
      throw new TokenizerFormatException(
          source
              + ": SentencePiece model type "
              + modelTypeName(modelType)
              + " is not supported; cria reads BPE models (as Llama's)");
    }
    if (charsmapLength > 0) {
      throw new TokenizerFormatException(
          source
              + ": normalizer \""
              + normalizerName
              + "\" uses a precompiled character map, which cria does not implement; "
              + "only models with the identity normalizer (as Llama's) are supported");
    }
    if (treatWhitespaceAsSuffix) {
      throw new TokenizerFormatException(source + ": treat_whitespace_as_suffix is not supported");
    }
    float[] scoreArray = new float[scores.size()];
    for (int i = 0; i < scoreArray.length; i++) {
      scoreArray[i] = scores.get(i);
    }
    Vocabulary vocabulary;
    try {
      vocabulary = Vocabulary.of(pieces, scoreArray, types.toArray(PieceType[]::new));
    } catch (IllegalArgumentException e) {
      throw new TokenizerFormatException(source + ": " + e.getMessage());
    }
    checkId(source, "unk_id", unk, vocabulary, false);
    checkId(source, "bos_id", bos, vocabulary, true);
    checkId(source, "eos_id", eos, vocabulary, true);
    checkId(source, "pad_id", pad, vocabulary, true);
    Normalizer normalizer =
        new Normalizer(addDummyPrefix, removeExtraWhitespaces, escapeWhitespaces);
    BpeModel bpe = BpeModel.fromScores(vocabulary, normalizer, byteFallback, unk);
    return new Tokenizer(
        bpe, new SpecialTokens(unk, bos, eos, pad), "SentencePiece model " + source);
  }

  private static void checkId(String source, String field, int id, Vocabulary v, boolean optional) {
    if ((optional && id == -1) || (id >= 0 && id < v.size())) {
      return;
    }
    throw new TokenizerFormatException(
        source
            + ": trainer_spec."
            + field
            + " = "
            + id
            + " is outside the vocabulary of "
            + v.size());
  }

  private static String modelTypeName(int type) {
    return switch (type) {
      case 1 -> "UNIGRAM";
      case 2 -> "BPE";
      case 3 -> "WORD";
      case 4 -> "CHAR";
      default -> String.valueOf(type);
    };
  }

  /**
   * Why {@code tokenizer} has no faithful SentencePiece model, if it has none: SentencePiece always
   * fuses a run of {@code <unk>} into one, so a tokenizer that keeps them apart ({@code fuse_unk}
   * false in its {@code tokenizer.json}) cannot be one.
   */
  public static Optional<String> cannotWrite(Tokenizer tokenizer) {
    return tokenizer.fusesUnknowns()
        ? Optional.empty()
        : Optional.of(
            "it keeps each <unk> apart (fuse_unk false), and SentencePiece fuses runs of them");
  }

  /**
   * Serializes {@code tokenizer} as a SentencePiece BPE ModelProto that SentencePiece itself loads:
   * the pieces with scores and types, the special ids and the normalizer flags.
   *
   * @throws TokenizerFormatException for a tokenizer that does not fuse runs of {@code <unk>}
   */
  public static byte[] write(Tokenizer tokenizer) {
    cannotWrite(tokenizer)
        .ifPresent(why -> {
          throw new TokenizerFormatException(
              tokenizer.description() + " cannot be written as a SentencePiece model: " + why);
        });
    ProtoWriter model = new ProtoWriter();
    Vocabulary v = tokenizer.vocabulary();
    for (int id = 0; id < v.size(); id++) {
      ProtoWriter piece =
          new ProtoWriter().string(PIECE_TEXT, v.piece(id)).floatField(PIECE_SCORE, v.score(id));
      if (v.type(id) != PieceType.NORMAL) {
        piece.varint(PIECE_TYPE, v.type(id).protoNumber());
      }
      model.message(PIECES, piece);
    }
    SpecialTokens s = tokenizer.specials();
    ProtoWriter trainer =
        new ProtoWriter()
            .varint(MODEL_TYPE, MODEL_TYPE_BPE)
            .varint(VOCAB_SIZE, v.size())
            .bool(SPLIT_BY_WHITESPACE, true)
            .bool(BYTE_FALLBACK, tokenizer.byteFallback())
            .varint(UNK_ID, s.unk())
            .varint(BOS_ID, s.bos())
            .varint(EOS_ID, s.eos())
            .varint(PAD_ID, s.pad());
    model.message(TRAINER_SPEC, trainer);
    Normalizer n = tokenizer.normalizer();
    ProtoWriter normalizer =
        new ProtoWriter()
            .string(NORMALIZER_NAME, "identity")
            .bool(ADD_DUMMY_PREFIX, n.addDummyPrefix())
            .bool(REMOVE_EXTRA_WHITESPACES, n.removeExtraWhitespaces())
            .bool(ESCAPE_WHITESPACES, n.escapeWhitespaces());
    model.message(NORMALIZER_SPEC, normalizer);
    return model.toByteArray();
  }
}
