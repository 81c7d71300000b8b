package dev.cria.engine.model;

import dev.cria.engine.backend.Buffers;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.View;

/**
 * The collectives a tensor-parallel model calls on its activation arena, and whether the residual
 * stream is split along the tokens (sequence parallelism, as Megatron-LM's {@code
 * --sequence-parallel}).
 *
 * <p>Without sequence parallelism every rank holds all {@code tokens} rows of the residual stream:
 * a row-parallel product's partial sums are all-reduced ({@link #reduceRows} sums in place) and a
 * norm's output is what the column-parallel products read ({@link #gatherRows} has nothing to do).
 * With it, rank r holds rows {@code [r * rows, (r + 1) * rows)} of the micro-batch's {@code batch x
 * seq} tokens (taken in the arena's order, so the blocks are whole sequences when the batch allows
 * it; Megatron cuts its [seq, batch, hidden] layout along the sequence: the same per-token work and
 * memory), {@link #reduceRows} reduce-scatters, leaving this rank its rows of the sums, and {@link
 * #gatherRows} all-gathers the rows of a norm's output before the products read all of them. The
 * collectives' shards are these blocks of rows: the constructor checks it.
 */
final class TensorGroup {
  private final Collective group;
  private final Buffers buffers;
  private final View arena;
  private final int tokens;
  private final boolean sequenceParallel;
  private final int rows;
  private long nanos; // in the group's collectives since last taken

  /**
   * The group {@code group} calling on {@code arena} (a buffer of {@code buffers}) for
   * micro-batches of {@code tokens} tokens of width {@code dim}; refuses a sequence-parallel split
   * the group's size does not divide.
   */
  TensorGroup(
      Collective group,
      Buffers buffers,
      View arena,
      int tokens,
      int dim,
      boolean sequenceParallel) {
    int parts = group.worldSize();
    if (sequenceParallel && tokens % parts != 0) {
      throw new IllegalArgumentException(
          "sequence parallelism: the tensor-parallel size "
              + parts
              + " does not divide the micro-batch's "
              + tokens
              + " tokens (micro-batch x sequence length)");
    }
    this.group = group;
    this.buffers = buffers;
    this.arena = arena;
    this.tokens = tokens;
    this.sequenceParallel = sequenceParallel && parts > 1;
    this.rows = this.sequenceParallel ? tokens / parts : tokens;
    if (this.sequenceParallel) {
      for (long count : new long[] {(long) tokens * dim, (long) tokens * dim / 2}) {
        for (int r = 0; r < parts; r++) {
          Collective.Shard s = group.shard(count, r);
          if (s.from() != count / parts * r || s.size() != count / parts) {
            throw new IllegalArgumentException(
                group.transport()
                    + " shards a buffer otherwise than in blocks of rows by rank:"
                    + " sequence parallelism needs a group on one host");
          }
        }
      }
    }
  }

  /** Whether the residual stream is split along the tokens. */
  boolean sequenceParallel() {
    return sequenceParallel;
  }

  /** Rows of the residual stream this rank holds: all the tokens, or its block of them. */
  int rows() {
    return rows;
  }

  /** The first of this rank's rows among all the tokens. */
  private long firstRow() {
    return sequenceParallel ? (long) group.rank() * rows : 0;
  }

  /**
   * Sums {@code count} floats at {@code offset} over the group (nothing for a group of one): the
   * partial sums of its ranks' slices become the whole on every rank.
   */
  void sum(long offset, long count) {
    if (group.worldSize() > 1) {
      long t0 = System.nanoTime();
      group.allReduceSum(arena.plus(offset), count);
      nanos += System.nanoTime() - t0;
    }
  }

  /**
   * Sums the ranks' partial rows {@code [tokens, width]} at {@code offset}: all of them
   * (all-reduce), or with sequence parallelism this rank's rows only (reduce-scatter). Returns the
   * offset of this rank's rows of the sums.
   */
  long reduceRows(long offset, int width) {
    if (!sequenceParallel) {
      sum(offset, (long) tokens * width);
      return offset;
    }
    long count = (long) tokens * width;
    long t0 = System.nanoTime();
    group.reduceScatterSum(arena.plus(offset), count);
    nanos += System.nanoTime() - t0;
    return offset + firstRow() * width;
  }

  /**
   * With sequence parallelism, copies this rank's rows {@code [rows, width]} at {@code local} into
   * its block of {@code all} (both of one dtype: f32, or bf16 in an f32 slot's bytes) and
   * all-gathers the others' blocks, so that {@code all} holds every row; without, nothing ({@code
   * local} holds them).
   */
  void gatherRows(View local, View all, int width) {
    if (!sequenceParallel) {
      return;
    }
    local.require(all.dtype(), "a gathered row's local copy");
    buffers.copy(local, all.plus(firstRow() * width), (long) rows * width);
    long t0 = System.nanoTime();
    View bytes = all.as(DType.F32); // the elements as they are, counted in floats
    group.allGather(bytes, (long) tokens * width * all.dtype().bytes() / DType.F32.bytes());
    nanos += System.nanoTime() - t0;
  }

  /**
   * Seconds in the group's collectives (waiting for the slowest rank included) since the last call.
   */
  double takeSeconds() {
    double seconds = nanos / 1e9;
    nanos = 0;
    return seconds;
  }
}
