/**
 * Checkpoints of a training run under {@code <run>/checkpoints/step-<N>/}: the model (HF-named
 * safetensors), each rank's ZeRO-1 shard of the AdamW state, the loop's position and the config,
 * with a manifest of sizes and CRC-32C checksums written last. A checkpoint appears by an atomic
 * rename of its finished directory, so a crash while saving leaves the previous one in place; on
 * restart the newest checkpoint whose checksums hold is resumed, bit-exactly.
 */
package dev.cria.train.checkpoint;
