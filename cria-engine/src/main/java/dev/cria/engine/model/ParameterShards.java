package dev.cria.engine.model;

import dev.cria.engine.tensor.View;

/**
 * Where a model's parameters come from under ZeRO-3 (as FSDP and DeepSpeed's stage 3 run it): each
 * pass asks for a bucket of {@link ParameterLayout#buckets()} just before it reads it, and gives it
 * back as soon as it is done with it, so that only the bucket in use and the next one are whole at
 * a time. The forward pass takes the embeddings, each layer and the head; the backward pass the
 * head and each layer again, not the embeddings (their gradient needs no weights). The model's own
 * parameters are then read by nobody but the optimizer and the checkpoints: this rank's shards of
 * them. {@code LlamaModel.shardParameters} installs one.
 */
public interface ParameterShards {
  /**
   * The values of {@code bucket}'s parameters (an f32 view of the first), once they are there;
   * {@code next} is the bucket the pass reads after it (null: none), which may be fetched
   * meanwhile. They stay valid until {@link #release}.
   */
  View acquire(ParameterLayout.Range bucket, ParameterLayout.Range next);

  /**
   * The pass is done with {@code bucket}: its values may go, or be reused, until acquired again.
   */
  void release(ParameterLayout.Range bucket);
}
