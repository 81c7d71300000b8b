package dev.cria.data.prepare;

import dev.cria.data.tokenizer.IntList;
import java.util.List;

/**
 * The tokens of one {@link LineBatch}, per JSON key: {@code tokens[k]} holds the ids of every
 * document back to back, {@code lengths[k]} one entry per parsed line (0 for an empty document,
 * which is not written). EOS is already appended where asked.
 *
 * @param documents lines that parsed into a document
 * @param blankLines lines with nothing but whitespace, skipped
 * @param badLines lines that were skipped as bad (only with skip-bad-lines)
 * @param inputBytesDone input bytes consumed once this batch is done (for progress)
 * @param textBytes bytes of the lines that became documents
 */
record EncodedBatch(
    IntList[] tokens,
    IntList[] lengths,
    int documents,
    int blankLines,
    List<BadInputException> badLines,
    long inputBytesDone,
    long textBytes) {}
