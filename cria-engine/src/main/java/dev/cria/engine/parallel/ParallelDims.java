package dev.cria.engine.parallel;

/**
 * How a job's ranks split between data and tensor parallelism: {@code dataParallel} replicas of the
 * model, each spread over {@code tensorParallel} ranks that hold a slice of every layer, {@link
 * #worldSize} {@code = dataParallel * tensorParallel} ranks in all.
 *
 * <p>The ranks follow Megatron-LM's order: the ranks of one tensor-parallel group are adjacent.
 * Global rank {@code r} is tensor rank {@code r % tp} ({@link #tensorRank}) of data rank {@code r /
 * tp} ({@link #dataRank}). With dp 2 x tp 4, ranks 0 to 3 are one tensor-parallel group and ranks 4
 * to 7 the other, and the data-parallel groups are {0, 4}, {1, 5}, {2, 6} and {3, 7}.
 *
 * <p>Why that order: tensor parallelism calls a collective on the activations in every layer, going
 * forward and back, so its group needs the fastest link there is; data parallelism reduces the
 * gradients once a step, overlapped with the backward pass, and gets by across hosts. The launchers
 * number a host's ranks consecutively (cria's own, and mpirun's {@code -map-by slot} in the MPIJob
 * cria writes), so when the tensor-parallel size divides the ranks per host each tensor-parallel
 * group lies on one host and its collectives use shared memory, while the data-parallel groups
 * reach across hosts.
 *
 * <p>A run builds one from its world size and the tensor-parallel size it is asked for ({@link
 * #of}); the trainer reads its batches by data rank and splits its model over the tensor group.
 *
 * @param dataParallel how many replicas of the model (data-parallel ranks), at least 1
 * @param tensorParallel how many ranks share each replica (tensor-parallel ranks), at least 1
 */
public record ParallelDims(int dataParallel, int tensorParallel) {
  public ParallelDims {
    if (dataParallel < 1 || tensorParallel < 1) {
      throw new IllegalArgumentException(
          "data parallelism "
              + dataParallel
              + " and tensor parallelism "
              + tensorParallel
              + " must both be at least 1");
    }
    if ((long) dataParallel * tensorParallel > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "data parallelism "
              + dataParallel
              + " x tensor parallelism "
              + tensorParallel
              + " is more ranks than an int counts");
    }
  }

  /**
   * The layout of {@code worldSize} ranks with tensor-parallel groups of {@code tensorParallel}
   * ranks, the rest being data parallelism; refuses a tensor-parallel size that does not divide the
   * world size.
   */
  public static ParallelDims of(int worldSize, int tensorParallel) {
    if (worldSize < 1) {
      throw new IllegalArgumentException("the world size must be at least 1, not " + worldSize);
    }
    if (tensorParallel < 1) {
      throw new IllegalArgumentException(
          "tensor parallelism must be at least 1, not " + tensorParallel);
    }
    if (worldSize % tensorParallel != 0) {
      throw new IllegalArgumentException(
          "tensor parallelism "
              + tensorParallel
              + " does not divide the world size "
              + worldSize
              + ": every tensor-parallel group needs "
              + tensorParallel
              + " ranks");
    }
    return new ParallelDims(worldSize / tensorParallel, tensorParallel);
  }

  /** How many ranks in all: {@code dataParallel * tensorParallel}. */
  public int worldSize() {
    return dataParallel * tensorParallel;
  }

  /** Global rank {@code rank}'s place in its tensor-parallel group: {@code rank % tp}. */
  public int tensorRank(int rank) {
    checkRank(rank);
    return rank % tensorParallel;
  }

  /**
   * Which data-parallel replica global rank {@code rank} belongs to (its place in its data-parallel
   * group): {@code rank / tp}.
   */
  public int dataRank(int rank) {
    checkRank(rank);
    return rank / tensorParallel;
  }

  /**
   * The global rank with {@code dataRank} and {@code tensorRank}: {@code dataRank * tp +
   * tensorRank}.
   */
  public int rankOf(int dataRank, int tensorRank) {
    checkIndex("data rank", dataRank, dataParallel);
    checkIndex("tensor rank", tensorRank, tensorParallel);
    return dataRank * tensorParallel + tensorRank;
  }

  /**
   * The global ranks of replica {@code dataRank}'s tensor-parallel group, ascending: {@code tp}
   * adjacent ranks from {@code dataRank * tp}.
   */
  public int[] tensorGroup(int dataRank) {
    checkIndex("data rank", dataRank, dataParallel);
    int[] ranks = new int[tensorParallel];
    for (int t = 0; t < tensorParallel; t++) {
      ranks[t] = rankOf(dataRank, t);
    }
    return ranks;
  }

  /**
   * The global ranks of the data-parallel group of tensor rank {@code tensorRank}, ascending: the
   * ranks holding the same slice in every replica, {@code tp} apart.
   */
  public int[] dataGroup(int tensorRank) {
    checkIndex("tensor rank", tensorRank, tensorParallel);
    int[] ranks = new int[dataParallel];
    for (int d = 0; d < dataParallel; d++) {
      ranks[d] = rankOf(d, tensorRank);
    }
    return ranks;
  }

  /** {@code "dp 2 x tp 4"}. */
  @Override
  public String toString() {
    return "dp " + dataParallel + " x tp " + tensorParallel;
  }

  private void checkRank(int rank) {
    if (rank < 0 || rank >= worldSize()) {
      throw new IllegalArgumentException(
          "rank " + rank + " is not one of the " + worldSize() + " ranks of " + this);
    }
  }

  private void checkIndex(String what, int index, int size) {
    if (index < 0 || index >= size) {
      throw new IllegalArgumentException(
          what + " " + index + " is not in [0, " + size + ") for " + this);
    }
  }
}
