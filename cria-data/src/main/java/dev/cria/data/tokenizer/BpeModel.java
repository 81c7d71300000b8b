package dev.cria.data.tokenizer;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything BPE encoding needs, immutable and shared by all threads: the vocabulary, the merge
 * rules with their priorities, and the lookups derived from them.
 *
 * <p>Two sources build it. A SentencePiece model merges any two adjacent symbols whose
 * concatenation is a mergeable piece, the piece with the highest score first ({@link #fromScores}).
 * A Hugging Face {@code tokenizer.json} lists its merges explicitly, the earliest first ({@link
 * #fromMerges}). Either way the encoder sees ranks: lower merges first, ties go to the leftmost
 * pair.
 */
final class BpeModel {
  final Vocabulary vocabulary;
  final Normalizer normalizer;
  final boolean byteFallback;
  final int unkId;
  final PairTable pairs;

  /** Rank of each piece as a merge result (SentencePiece models), for concatenation look-ups. */
  private final int[] mergeRank;

  /** SentencePiece semantics: also merge symbols that are not pieces themselves (rare chars). */
  final boolean mergeByConcatenation;

  /**
   * Whether a run of {@code <unk>} ids becomes one: always in SentencePiece, {@code fuse_unk} in a
   * Hugging Face tokenizer.
   */
  final boolean fuseUnknowns;

  /** Whether the normalized text may be cut before every word (see {@link #canSplitAtWords}). */
  final boolean splitAtWords;

  final char spaceChar;
  final boolean hasUnusedPieces;

  /** User-defined pieces by first char, longest first; empty for most models. */
  final Map<Character, List<String>> userDefinedByFirstChar;

  private final int[] bmpCharIds;
  private final Map<Integer, Integer> supplementaryCharIds;

  private BpeModel(
      Vocabulary vocabulary,
      Normalizer normalizer,
      boolean byteFallback,
      int unkId,
      PairTable pairs,
      int[] mergeRank,
      boolean mergeByConcatenation,
      boolean fuseUnknowns) {
    this.vocabulary = vocabulary;
    this.normalizer = normalizer;
    this.byteFallback = byteFallback;
    this.unkId = unkId;
    this.pairs = pairs;
    this.mergeRank = mergeRank;
    this.mergeByConcatenation = mergeByConcatenation;
    this.fuseUnknowns = fuseUnknowns;
    this.spaceChar = normalizer.escapeWhitespaces() ? Normalizer.SPACE_SYMBOL : ' ';

    bmpCharIds = new int[65536];
    Arrays.fill(bmpCharIds, -1);
    supplementaryCharIds = new HashMap<>();
    Map<Character, List<String>> userDefined = new HashMap<>();
    boolean unused = false;
    for (int id = 0; id < vocabulary.size(); id++) {
      PieceType type = vocabulary.type(id);
      if (!type.isMergeable()) {
        continue;
      }
      unused |= type == PieceType.UNUSED;
      String piece = vocabulary.piece(id);
      if (type == PieceType.USER_DEFINED && !piece.isEmpty()) {
        userDefined.computeIfAbsent(piece.charAt(0), c -> new java.util.ArrayList<>()).add(piece);
      }
      if (piece.codePointCount(0, piece.length()) == 1) {
        int cp = piece.codePointAt(0);
        if (cp < 65536) {
          bmpCharIds[cp] = id;
        } else {
          supplementaryCharIds.put(cp, id);
        }
      }
    }
    userDefined.values().forEach(list -> list.sort((a, b) -> b.length() - a.length()));
    this.userDefinedByFirstChar = Map.copyOf(userDefined);
    this.hasUnusedPieces = unused;
    this.splitAtWords = canSplitAtWords(vocabulary, spaceChar);
  }

  /**
   * SentencePiece's rule: a merge may produce any mergeable piece, and the piece with the higher
   * score merges first. Ranks are dense over distinct scores, so equal scores tie to the leftmost.
   */
  static BpeModel fromScores(
      Vocabulary vocabulary, Normalizer normalizer, boolean byteFallback, int unkId) {
    int n = vocabulary.size();
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Float.compare(vocabulary.score(b), vocabulary.score(a)));
    int[] rank = new int[n];
    int dense = -1;
    float previous = Float.NaN;
    for (Integer id : order) {
      float s = vocabulary.score(id);
      if (dense < 0 || Float.compare(s, previous) != 0) {
        dense++;
        previous = s;
      }
      rank[id] = dense;
    }
    // Every split of a mergeable piece into two mergeable pieces is a rule.
    int rules = 0;
    int[][] splits = new int[n][];
    for (int id = 0; id < n; id++) {
      if (!vocabulary.type(id).isMergeable()) {
        continue;
      }
      String piece = vocabulary.piece(id);
      int[] found = new int[piece.length() * 2];
      int count = 0;
      for (int cut = 1; cut < piece.length(); cut++) {
        if (Character.isLowSurrogate(piece.charAt(cut))) {
          continue;
        }
        int left = mergeableId(vocabulary, piece.substring(0, cut));
        int right = mergeableId(vocabulary, piece.substring(cut));
        if (left >= 0 && right >= 0) {
          found[count++] = left;
          found[count++] = right;
        }
      }
      splits[id] = Arrays.copyOf(found, count);
      rules += count / 2;
    }
    PairTable pairs = new PairTable(rules);
    for (int id = 0; id < n; id++) {
      int[] s = splits[id];
      for (int k = 0; s != null && k < s.length; k += 2) {
        pairs.putIfAbsent(s[k], s[k + 1], rank[id], id);
      }
    }
    return new BpeModel(vocabulary, normalizer, byteFallback, unkId, pairs, rank, true, true);
  }

  /**
   * Hugging Face's rule: only listed merges apply, the earlier in the list first; runs of {@code
   * <unk>} fused when {@code fuseUnknowns} ({@code fuse_unk}).
   */
  static BpeModel fromMerges(
      Vocabulary vocabulary,
      Normalizer normalizer,
      boolean byteFallback,
      boolean fuseUnknowns,
      int unkId,
      List<int[]> merges) {
    PairTable pairs = new PairTable(merges.size());
    for (int rank = 0; rank < merges.size(); rank++) {
      int[] m = merges.get(rank);
      pairs.putIfAbsent(m[0], m[1], rank, m[2]);
    }
    return new BpeModel(
        vocabulary, normalizer, byteFallback, unkId, pairs, null, false, fuseUnknowns);
  }

  private static int mergeableId(Vocabulary vocabulary, String piece) {
    int id = vocabulary.id(piece);
    return id >= 0 && vocabulary.type(id).isMergeable() ? id : -1;
  }

  /**
   * The normalized text can be cut before each space that follows a non-space, and the parts
   * encoded alone, when no mergeable piece contains a non-space followed by a space: then no merge
   * can cross such a cut. True for SentencePiece models trained with split_by_whitespace (Llama).
   */
  private static boolean canSplitAtWords(Vocabulary vocabulary, char space) {
    for (int id = 0; id < vocabulary.size(); id++) {
      if (!vocabulary.type(id).isMergeable()) {
        continue;
      }
      String piece = vocabulary.piece(id);
      for (int i = 1; i < piece.length(); i++) {
        if (piece.charAt(i) == space && piece.charAt(i - 1) != space) {
          return false;
        }
      }
    }
    return true;
  }

  /** The id of a one-character mergeable piece for code point {@code cp}, or -1. */
  int charId(int cp) {
    if (cp < 65536) {
      return bmpCharIds[cp];
    }
    Integer id = supplementaryCharIds.get(cp);
    return id == null ? -1 : id;
  }

  /**
   * The rule for merging symbols whose text is {@code concatenation} when one of them is not a
   * piece: {@code rank << 32 | id}, or -1. Only SentencePiece models merge such symbols.
   */
  long ruleForConcatenation(String concatenation) {
    int id = mergeableId(vocabulary, concatenation);
    return id < 0 ? -1L : ((long) mergeRank[id] << 32) | id;
  }
}
