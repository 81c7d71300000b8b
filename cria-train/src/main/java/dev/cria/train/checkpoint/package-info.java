/**
 * Checkpoints of a training run under {@code <run>/checkpoints/step-<N>/}: the model (HF-named
 * safetensors), each rank's ZeRO-1 shard of the AdamW state, the loop's position and the config,
 * with a manifest of sizes and CRC-32C checksums written last. A checkpoint appears by an atomic
 * rename of its finished directory, so a crash while saving leaves the previous one in place; on
 * restart the newest checkpoint whose checksums hold is resumed, bit-exactly.
 *
 * <p>{@link dev.cria.train.checkpoint.SaveSchedule} decides when a rank saves, {@link
 * dev.cria.train.checkpoint.StartingWeights} where its weights come from (a checkpoint the ranks
 * choose together, the seeded initialization, or Hugging Face weights), {@link
 * dev.cria.train.checkpoint.TrainedModel} loads one for use and {@link
 * dev.cria.train.checkpoint.HfExport} writes it as a Hugging Face model.
 */
package dev.cria.train.checkpoint;
