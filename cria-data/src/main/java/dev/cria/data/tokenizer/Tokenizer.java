package dev.cria.data.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A Llama-style BPE tokenizer: text to ids and back, with SentencePiece's exact behaviour.
 *
 * <p>Immutable and safe to share between threads (each thread encodes with its own scratch). Load
 * one with {@link Tokenizers#load}; train one with {@link BpeTrainer}. Text is taken literally:
 * {@code "<s>"} inside a text is five characters, as in SentencePiece, not the BOS token.
 */
public final class Tokenizer {
  private final BpeModel model;
  private final SpecialTokens specials;
  private final String description;
  private final ThreadLocal<BpeEncoder> encoders;

  Tokenizer(BpeModel model, SpecialTokens specials, String description) {
    this.model = model;
    this.specials = specials;
    this.description = description;
    WordCache cache = new WordCache(WordCache.DEFAULT_CAPACITY);
    this.encoders = ThreadLocal.withInitial(() -> new BpeEncoder(model, cache));
  }

  /** Whether a run of {@code <unk>} ids is encoded as one (SentencePiece always does). */
  public boolean fusesUnknowns() {
    return model.fuseUnknowns;
  }

  /** Where this tokenizer came from and in which format, for people. */
  public String description() {
    return description;
  }

  public Vocabulary vocabulary() {
    return model.vocabulary;
  }

  public int vocabSize() {
    return model.vocabulary.size();
  }

  public SpecialTokens specials() {
    return specials;
  }

  public Normalizer normalizer() {
    return model.normalizer;
  }

  public boolean byteFallback() {
    return model.byteFallback;
  }

  /**
   * The number of merge rules (pairs of pieces that merge into a third). A SentencePiece model
   * keeps scores, not its merge list, so every split of a merged piece into two pieces is a rule:
   * more rules than {@link #mergedPieceCount()}; a tokenizer.json lists its merges.
   */
  public int mergeRuleCount() {
    return model.pairs.size();
  }

  /**
   * The pieces that merges made: mergeable pieces of more than one character (what a BPE trainer
   * counts as its merges).
   */
  public int mergedPieceCount() {
    Vocabulary v = vocabulary();
    int count = 0;
    for (int id = 0; id < v.size(); id++) {
      String piece = v.piece(id);
      if (v.type(id).isMergeable() && piece.codePointCount(0, piece.length()) > 1) {
        count++;
      }
    }
    return count;
  }

  /** The ids of {@code text}, without BOS or EOS. */
  public int[] encode(CharSequence text) {
    IntList out = new IntList(Math.max(16, text.length() / 3));
    encode(text, out);
    return out.toArray();
  }

  /** The ids of {@code text}, with BOS in front and EOS behind when asked. */
  public int[] encode(CharSequence text, boolean bos, boolean eos) {
    IntList out = new IntList(Math.max(16, text.length() / 3 + 2));
    if (bos) {
      out.add(specials.bos());
    }
    encode(text, out);
    if (eos) {
      out.add(specials.eos());
    }
    return out.toArray();
  }

  /** Appends the ids of {@code text} (no BOS/EOS) to {@code out}: the allocation-free form. */
  public void encode(CharSequence text, IntList out) {
    encoders.get().encode(text, out);
  }

  /**
   * The text of {@code ids}: control pieces vanish, {@code <unk>} shows as " ⁇ ", runs of byte
   * pieces are decoded as UTF-8 (a malformed sequence becomes U+FFFD), U+2581 becomes a space, and
   * the one dummy-prefix space in front of the first piece is dropped.
   *
   * <p>Unlike SentencePiece, which drops the leading U+2581 of every piece until some text has been
   * produced, only the dummy prefix is dropped (as Hugging Face's {@code Strip} decoder does), so
   * {@code decode(encode(s)) == s} holds also for texts that start with spaces.
   */
  public String decode(int[] ids) {
    StringBuilder text = new StringBuilder();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    Vocabulary v = model.vocabulary;
    boolean prefixPending = model.normalizer.addDummyPrefix();
    for (int id : ids) {
      if (id < 0 || id >= v.size()) {
        throw new IllegalArgumentException(
            "token id " + id + " is outside the vocabulary [0, " + v.size() + ")");
      }
      PieceType type = v.type(id);
      if (type == PieceType.BYTE) {
        bytes.write(Integer.parseInt(v.piece(id), 3, 5, 16));
        continue;
      }
      if (bytes.size() > 0) {
        prefixPending = false;
      }
      flushBytes(bytes, text);
      switch (type) {
        case CONTROL -> {}
        case UNKNOWN -> {
          text.append(" \u2047 ");
          prefixPending = false;
        }
        default -> {
          String piece = v.piece(id);
          int from = 0;
          if (prefixPending && !piece.isEmpty()) {
            from = piece.charAt(0) == model.spaceChar ? 1 : 0;
            prefixPending = false;
          }
          for (int i = from; i < piece.length(); i++) {
            char c = piece.charAt(i);
            text.append(c == Normalizer.SPACE_SYMBOL ? ' ' : c);
          }
        }
      }
    }
    flushBytes(bytes, text);
    return text.toString();
  }

  private static void flushBytes(ByteArrayOutputStream bytes, StringBuilder text) {
    if (bytes.size() > 0) {
      text.append(new String(bytes.toByteArray(), StandardCharsets.UTF_8));
      bytes.reset();
    }
  }

  @Override
  public String toString() {
    return "Tokenizer[" + description + ", vocab " + vocabSize() + "]";
  }
}
