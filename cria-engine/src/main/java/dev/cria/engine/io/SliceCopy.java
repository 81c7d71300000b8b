package dev.cria.engine.io;

import dev.cria.engine.model.ParameterLayout;
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
    for (ParameterLayout.Tensor t : piece.tensors()) {
      ParameterLayout.Tensor w = whole.tensor(t.name());
      copy(piece, t, w, wholeValues.segment(), w.offset(), values.segment(), t.offset(), intoWhole);
    }
  }

  /**
   * Copies {@code piece}'s slice of one tensor, {@code t} (one of {@code piece}'s), out of {@code
   * whole}, which holds the whole tensor {@code w} from its first float, into {@code slice}, from
   * its first float: a checkpoint read a tensor at a time, so that no rank holds the whole model.
   */
  public static void fromWholeTensor(
      ParameterLayout piece,
      ParameterLayout.Tensor t,
      ParameterLayout.Tensor w,
      MemorySegment whole,
      MemorySegment slice) {
    if (!t.name().equals(w.name())) {
      throw new IllegalArgumentException(t.name() + "'s slice is not cut from " + w.name());
    }
    copy(piece, t, w, whole, 0, slice, 0, false);
  }

  /**
   * Copies {@code slice}, {@code piece}'s slice of one tensor {@code t} from its first float, into
   * its place in {@code whole}, which holds the whole tensor {@code w} from its first float.
   */
  public static void toWholeTensor(
      ParameterLayout piece,
      ParameterLayout.Tensor t,
      MemorySegment slice,
      ParameterLayout.Tensor w,
      MemorySegment whole) {
    if (!t.name().equals(w.name())) {
      throw new IllegalArgumentException(t.name() + "'s slice is not cut from " + w.name());
    }
    copy(piece, t, w, whole, 0, slice, 0, true);
  }

  /**
   * Tensor {@code t} of {@code piece} at float {@code here} of {@code mine}, to or from its place
   * in the whole tensor {@code w} at float {@code there} of {@code all}. A slice cut by rows is one
   * contiguous block; one cut by columns, a run per row.
   */
  private static void copy(
      ParameterLayout piece,
      ParameterLayout.Tensor t,
      ParameterLayout.Tensor w,
      MemorySegment all,
      long there,
      MemorySegment mine,
      long here,
      boolean intoWhole) {
    long first = there + (long) piece.firstRow(t) * w.cols() + piece.firstCol(t);
    boolean block = t.cols() == w.cols(); // whole rows: one contiguous run
    int runs = block ? 1 : t.rows();
    long runLength = block ? t.size() : t.cols();
    for (int r = 0; r < runs; r++) {
      long wholeAt = (first + (long) r * w.cols()) * Float.BYTES;
      long sliceAt = (here + r * runLength) * Float.BYTES;
      if (intoWhole) {
        MemorySegment.copy(mine, sliceAt, all, wholeAt, runLength * Float.BYTES);
      } else {
        MemorySegment.copy(all, wholeAt, mine, sliceAt, runLength * Float.BYTES);
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
