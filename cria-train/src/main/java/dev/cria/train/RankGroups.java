package dev.cria.train;

import dev.cria.core.run.RankStatus;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.ParallelDims;
import dev.cria.train.checkpoint.WholeModel;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.distributed.GradientBuckets;
import dev.cria.train.distributed.RankValues;
import dev.cria.train.distributed.ShardedAdamW;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The groups one rank trains in, as {@link ParallelDims} lays the job out: the job's own, the ranks
 * sharing its model (tensor parallelism: a group of one without it) and the ranks reducing its
 * gradients (data parallelism: a group of one with a single replica). With one kind of parallelism
 * that kind's group is the job's itself; with both, each is split out of the job's ({@link
 * Collective#split}: shared memory for a tensor-parallel group, which stays on one host) and closed
 * with this.
 */
record RankGroups(Collective job, Collective tensor, Collective data, ParallelDims dims)
    implements AutoCloseable {
  /** The groups of {@code job} laid out as {@code dims}; with both kinds, every rank calls it. */
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
    if (dims.tensorParallel() == 1) {
      return new RankGroups(job, Collective.single(), job, dims);
    }
    if (dims.dataParallel() == 1) {
      return new RankGroups(job, job, Collective.single(), dims);
    }
    int rank = job.rank();
    Collective tensor = job.split(dims.tensorGroup(dims.dataRank(rank)));
    try {
      return new RankGroups(job, tensor, job.split(dims.dataGroup(dims.tensorRank(rank))), dims);
    } catch (RuntimeException e) {
      tensor.close();
      throw e;
    }
  }

  /** Where this rank stands, for its status file. */
  RankStatus.Parallel place() {
    int rank = job.rank();
    return new RankStatus.Parallel(
        dims.dataRank(rank), dims.dataParallel(), dims.tensorRank(rank), dims.tensorParallel());
  }

  /** This rank's place among the data-parallel ranks: which micro-batches it reads. */
  int dataRank() {
    return dims.dataRank(job.rank());
  }

  /**
   * A sum of squares over the whole model, from this rank's {@code squares} (of what it holds, or
   * of its shards) of which {@code replicated} are of tensors every rank of its tensor-parallel
   * group holds the same (the norms): a sum over the job's ranks of each one's {@link #share}.
   */
  double squaresOverRanks(RankValues ranks, double squares, double replicated) {
    return job.worldSize() == 1 ? squares : ranks.sum(share(squares, replicated));
  }

  /**
   * What this rank adds to a sum over the job's ranks of {@code squares}, of which {@code
   * replicated} are of tensors its whole tensor-parallel group holds: those count once per replica,
   * a share of 1/tp from each of its ranks.
   */
  double share(double squares, double replicated) {
    int tp = dims.tensorParallel();
    return tp == 1 ? squares : squares - replicated + replicated / tp;
  }

  /**
   * For the run's header: "; tensor parallelism 2 (dp 2 x tp 2): this rank holds slice 1 of every
   * layer in replica 0; its tensor-parallel group over ...", or nothing.
   */
  String describe(boolean sequenceParallel) {
    if (tensor.worldSize() == 1) {
      return "";
    }
    String text =
        String.format(
            Locale.ROOT,
            "; tensor parallelism %d (%s): this rank holds slice %d of every layer",
            tensor.worldSize(),
            dims,
            tensor.rank());
    if (data.worldSize() > 1) {
      text +=
          String.format(
              Locale.ROOT,
              " in replica %d; its tensor-parallel group over %s, its data-parallel group over %s",
              dataRank(),
              tensor.transport(),
              data.transport());
    }
    return sequenceParallel
        ? text
            + "; sequence parallelism: it holds 1/"
            + tensor.worldSize()
            + " of the tokens' rows"
            + " of the residual stream"
        : text;
  }

  /**
   * The buckets in which the data-parallel group reduces {@code model}'s gradients (and shards its
   * optimizer, ZeRO), or null for one replica.
   */
  GradientBuckets buckets(LlamaModel model, TrainConfig.Distributed d) {
    return data.worldSize() > 1
        ? new GradientBuckets(
            model.layout(),
            model.gradients(),
            data,
            new GradientBuckets.Settings(d.zeroStage(), d.bucketCapBytes()))
        : null;
  }

  /**
   * What gathers {@code model} whole on the job's rank 0 for its checkpoints, or null when the
   * model is not split (by tensor parallelism or ZeRO-3): its slices, their parameters from every
   * data-parallel rank's shards under ZeRO-3, and the moments of {@code adam} from every
   * data-parallel rank's shards of its {@code buckets} (null: one replica, whose optimizer has the
   * whole slice).
   */
  WholeModel wholeModel(
      LlamaModel model, ShardedAdamW adam, GradientBuckets buckets, Backend backend) {
    boolean zero3 = buckets != null && buckets.settings().shardsParameters();
    if (model.slice().whole() && !zero3) {
      return null;
    }
    List<List<ParameterLayout.Range>> shards = new ArrayList<>();
    for (int d = 0; d < data.worldSize(); d++) {
      shards.add(
          buckets == null
              ? List.of(new ParameterLayout.Range(0, model.layout().size()))
              : buckets.shardsOf(d));
    }
    return WholeModel.of(model, adam.parts(), job, dims, shards, zero3, backend);
  }

  /** Closes the groups split out of the job's (not the job's own). */
  @Override
  public void close() {
    try {
      if (tensor != job) {
        tensor.close();
      }
    } finally {
      if (data != job) {
        data.close();
      }
    }
  }
}
