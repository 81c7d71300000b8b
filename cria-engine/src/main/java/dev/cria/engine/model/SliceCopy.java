package dev.cria.engine.model;

import dev.cria.engine.tensor.Floats;
import java.lang.foreign.MemorySegment;

/**
 * Copies a tensor-parallel rank's slice of every tensor between a buffer laid out as its own {@link
 * ParameterLayout} and one laid out as the whole model's: how a checkpoint, which holds whole
 * tensors whatever the layout that saved it, is filled from a group's slices and read back into
 * them. A slice cut by rows is one block of the whole tensor, one cut by columns a run per row.
 */
public final class SliceCopy {
  private SliceCopy() {}

  /** Copies {@code piece}'s slice of each tensor out of {@code wholeValues} into {@code values}. */
  public static void fromWhole(
      ParameterLayout whole, Floats wholeValues, ParameterLayout piece, Floats values) {
    copy(whole, wholeValues, piece, values, false);
  }

  /**
   * Copies {@code values}, {@code piece}'s slice of each tensor, into its place in {@code
   * wholeValues}.
   */
  public static void toWhole(
      ParameterLayout piece, Floats values, ParameterLayout whole, Floats wholeValues) {
    copy(whole, wholeValues, piece, values, true);
  }

  private static void copy(
      ParameterLayout whole,
      Floats wholeValues,
      ParameterLayout piece,
      Floats values,
      boolean intoWhole) {
    if (!whole.slice().whole() || !whole.config().equals(piece.config())) {
      throw new IllegalArgumentException(
          "copying a slice needs the whole layout of the same model, not "
              + whole.slice()
              + " of "
              + whole.config().describe());
    }
    requireLength("the whole model's buffer", wholeValues, whole.size());
    requireLength("the slice's buffer", values, piece.size());
    MemorySegment all = wholeValues.segment();
    MemorySegment mine = values.segment();
    for (ParameterLayout.Tensor t : piece.tensors()) {
      ParameterLayout.Tensor w = whole.tensor(t.name());
      long first = w.offset() + (long) piece.firstRow(t) * w.cols() + piece.firstCol(t);
      boolean block = t.cols() == w.cols(); // whole rows: one contiguous run
      int runs = block ? 1 : t.rows();
      long runLength = block ? t.size() : t.cols();
      for (int r = 0; r < runs; r++) {
        long there = (first + (long) r * w.cols()) * Float.BYTES;
        long here = (t.offset() + r * runLength) * Float.BYTES;
        if (intoWhole) {
          MemorySegment.copy(mine, here, all, there, runLength * Float.BYTES);
        } else {
          MemorySegment.copy(all, there, mine, here, runLength * Float.BYTES);
        }
      }
    }
  }

  private static void requireLength(String what, Floats values, long floats) {
    if (values.length() < floats) {
      throw new IllegalArgumentException(
          what + " holds " + values.length() + " floats, fewer than the " + floats + " it needs");
    }
  }
}
