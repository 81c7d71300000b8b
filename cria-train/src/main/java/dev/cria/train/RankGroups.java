package dev.cria.train;

import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.ParallelDims;
import java.util.Locale;

/**
 * The groups one rank trains in, as {@link ParallelDims} lays the job out: the job's own, the ranks
 * sharing its model (tensor parallelism: a group of one without it) and the ranks reducing its
 * gradients (data parallelism: a group of one with it). One kind at a time for now ({@link
 * TrainingSetup#parallelDims} refuses both at once), so either is the job's group itself.
 */
record RankGroups(Collective job, Collective tensor, Collective data, ParallelDims dims) {
  static RankGroups of(Collective job, ParallelDims dims) {
    if (dims.worldSize() != job.worldSize()) {
      throw new IllegalArgumentException(
          "the layout "
              + dims
              + " is for "
              + dims.worldSize()
              + " ranks, the group has "
              + job.worldSize());
    }
    boolean split = dims.tensorParallel() > 1;
    return new RankGroups(
        job, split ? job : Collective.single(), split ? Collective.single() : job, dims);
  }

  /** This rank's place among the data-parallel ranks: which micro-batches it reads. */
  int dataRank() {
    return dims.dataRank(job.rank());
  }

  /** For the run's header: "; tensor parallelism 2 (dp 1 x tp 2): ...", or nothing. */
  String describe() {
    return tensor.worldSize() > 1
        ? String.format(
            Locale.ROOT,
            "; tensor parallelism %d (%s): this rank holds slice %d of every layer",
            tensor.worldSize(),
            dims,
            tensor.rank())
        : "";
  }
}
