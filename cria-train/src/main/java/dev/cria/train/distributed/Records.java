package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Each rank's record of a fixed number of bytes, gathered on every rank in rank order, over any
 * group whatever its shards: a hierarchical group's shards follow its hosts, not its ranks, so the
 * record goes where the group puts this rank's shard, and is read back from each rank's. The
 * exchanges that set up collectives (hosts, names of mappings, addresses) use it.
 */
final class Records {
  private Records() {}

  /**
   * Fills {@code table} (a record of {@code recordBytes} bytes per rank, rank r's at {@code r *
   * recordBytes}, this rank's written) with every rank's record. Every rank calls it together.
   */
  static void allGather(Collective group, MemorySegment table, long recordBytes) {
    if (recordBytes % Float.BYTES != 0) {
      throw new IllegalArgumentException(
          "a record of " + recordBytes + " bytes is not whole floats");
    }
    int world = group.worldSize();
    long floats = recordBytes / Float.BYTES;
    long count = floats * world;
    boolean inOrder = true;
    for (int r = 0; r < world; r++) {
      Collective.Shard s = group.shard(count, r);
      if (s.size() != floats) {
        throw new IllegalStateException(
            group.transport() + " gives rank " + r + " a shard of " + s.size() + " floats");
      }
      inOrder &= s.from() == floats * r;
    }
    if (inOrder) {
      group.allGather(table, count); // the bytes, as they are
      return;
    }
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment shards = arena.allocate(recordBytes * world, 64);
      int me = group.rank();
      MemorySegment.copy(
          table,
          recordBytes * me,
          shards,
          group.shard(count, me).from() * Float.BYTES,
          recordBytes);
      group.allGather(shards, count);
      for (int r = 0; r < world; r++) {
        MemorySegment.copy(
            shards,
            group.shard(count, r).from() * Float.BYTES,
            table,
            recordBytes * r,
            recordBytes);
      }
    }
  }
}
