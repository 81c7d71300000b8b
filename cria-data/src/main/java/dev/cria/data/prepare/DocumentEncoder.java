package dev.cria.data.prepare;

import dev.cria.data.tokenizer.IntList;
import dev.cria.data.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns a {@link LineBatch} into an {@link EncodedBatch}: parses each line ({@link JsonLineParser})
 * and tokenizes the text under each key, as NeMo's {@code Encoder.encode} does (no BOS; EOS after a
 * non-empty document with {@code appendEod}). Thread-safe.
 */
final class DocumentEncoder {
  private final Tokenizer tokenizer;
  private final JsonLineParser parser;
  private final int keyCount;
  private final boolean appendEod;
  private final boolean skipBadLines;

  DocumentEncoder(Tokenizer tokenizer, List<String> keys, boolean appendEod, boolean skipBadLines) {
    this.tokenizer = tokenizer;
    this.parser = new JsonLineParser(keys);
    this.keyCount = keys.size();
    this.appendEod = appendEod;
    this.skipBadLines = skipBadLines;
  }

  EncodedBatch encode(LineBatch batch) {
    IntList[] tokens = new IntList[keyCount];
    IntList[] lengths = new IntList[keyCount];
    for (int i = 0; i < keyCount; i++) {
      tokens[i] = new IntList(batch.data().length / 3 + 16);
      lengths[i] = new IntList(batch.count());
    }
    String[] texts = new String[keyCount];
    int documents = 0;
    int blank = 0;
    long textBytes = 0;
    List<BadInputException> bad = new ArrayList<>();
    byte[] data = batch.data();
    for (int line = 0; line < batch.count(); line++) {
      int from = batch.starts()[line];
      int to = batch.ends()[line];
      if (JsonLineParser.isBlank(data, from, to)) {
        blank++;
        continue;
      }
      try {
        parser.parse(data, from, to, texts, batch.file(), batch.firstLine() + line);
      } catch (BadInputException e) {
        if (!skipBadLines) {
          throw e;
        }
        bad.add(e);
        continue;
      }
      documents++;
      textBytes += to - from;
      for (int i = 0; i < keyCount; i++) {
        int before = tokens[i].size();
        tokenizer.encode(texts[i], tokens[i]);
        int length = tokens[i].size() - before;
        if (length > 0 && appendEod) {
          tokens[i].add(tokenizer.specials().eos());
          length++;
        }
        lengths[i].add(length);
      }
    }
    return new EncodedBatch(
        tokens, lengths, documents, blank, bad, batch.inputBytesDone(), textBytes);
  }
}
