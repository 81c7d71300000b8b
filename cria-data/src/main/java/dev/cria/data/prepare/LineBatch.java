package dev.cria.data.prepare;

import java.nio.file.Path;

/**
 * Consecutive lines of one input file, for one worker: line {@code k} is {@code data[starts[k],
 * ends[k])} without its line break, and is line {@code firstLine + k} of {@code file} (1-based).
 *
 * @param inputBytesDone bytes of all inputs (as stored, compressed or not) consumed once this batch
 *     is done, for progress and ETA
 */
record LineBatch(
    Path file,
    long firstLine,
    byte[] data,
    int[] starts,
    int[] ends,
    int count,
    long inputBytesDone) {}
