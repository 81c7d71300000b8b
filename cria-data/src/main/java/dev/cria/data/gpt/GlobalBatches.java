package dev.cria.data.gpt;

/**
 * Megatron's sampler arithmetic: which samples form micro-batch m of rank r in a global batch. A
 * global batch of {@code globalBatchSize} consecutive samples (in sample order) is split into
 * micro-steps of {@code microBatchSize x worldSize} samples; in micro-step m, rank r takes the
 * {@code microBatchSize} samples starting at {@code (m * worldSize + r) * microBatchSize}. The
 * trainer, its validation and {@code cria eval} all take their samples from here.
 *
 * @param globalBatchSize samples per optimizer step, over all ranks
 * @param microBatchSize samples per forward/backward pass of one rank
 * @param worldSize data-parallel ranks
 */
public record GlobalBatches(int globalBatchSize, int microBatchSize, int worldSize) {
  public GlobalBatches {
    if (globalBatchSize < 1 || microBatchSize < 1 || worldSize < 1) {
      throw new IllegalArgumentException(
          "global batch "
              + globalBatchSize
              + ", micro-batch "
              + microBatchSize
              + " and data-parallel size "
              + worldSize
              + " must be positive");
    }
    if (globalBatchSize % ((long) microBatchSize * worldSize) != 0) {
      throw new IllegalArgumentException(
          "global batch size "
              + globalBatchSize
              + " is not a multiple of micro-batch size x data-parallel size = "
              + microBatchSize
              + " x "
              + worldSize);
    }
  }

  /** Micro-batches each rank accumulates per global batch. */
  public int microStepsPerBatch() {
    return globalBatchSize / (microBatchSize * worldSize);
  }

  /**
   * The first sample of micro-step {@code microStep} of {@code rank} in the global batch that
   * starts at sample {@code batchStart} (the samples consumed before it, in training).
   */
  public long firstSample(long batchStart, int microStep, int rank) {
    if (microStep < 0 || microStep >= microStepsPerBatch() || rank < 0 || rank >= worldSize) {
      throw new IllegalArgumentException(
          "micro-step "
              + microStep
              + " of rank "
              + rank
              + " is outside a global"
              + " batch of "
              + microStepsPerBatch()
              + " micro-steps x "
              + worldSize
              + " ranks");
    }
    return batchStart + ((long) microStep * worldSize + rank) * microBatchSize;
  }

  /**
   * The first sample of global batch {@code index} when batches are counted from sample 0
   * (validation).
   */
  public long batchStart(long index) {
    return index * globalBatchSize;
  }
}
