package dev.cria.engine.model;

import static dev.cria.engine.tensor.DType.BF16;

import dev.cria.engine.backend.Buffers;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import java.util.Objects;

/**
 * The weights a Llama model's passes read, and where they come from: the model's fp32 parameters in
 * place, or under ZeRO-3 the bucket in use from {@link ParameterShards}; and, when the products are
 * bf16, the bf16 copy the linear layers multiply. That copy holds every weight but the embeddings
 * (looked up, never multiplied), rounded as each forward pass takes its bucket, or one bucket at a
 * time, rounded whenever a pass takes it, the backward pass's included (under ZeRO-3 and bf16-sr:
 * {@link #copiesOneBucket(Precision, boolean)}). A pass {@link #take}s each bucket before reading
 * it and is {@link #done} with it after; {@link #param} and {@link #weight} are valid in between.
 */
final class PassWeights {
  private final ParameterLayout layout;
  private final Floats parameters;
  private final Precision precision;
  private final Kernels kernels;
  private final Buffers buffers;
  private final boolean bf16;
  private final long computeBase; // the first parameter the bf16 copy holds: the first weight
  private View computeWeights; // allocated by the first rounding (null until then, and in fp32)
  private ParameterLayout.Range rounded; // the bucket a one-bucket copy holds
  private ParameterShards shards; // ZeRO-3: where the parameters come from; null: all in place
  private ParameterLayout.Range held; // ZeRO-3: the bucket in use, whose values are in heldValues
  private View heldValues;

  /**
   * The weights of {@code parameters}, laid out by {@code layout}, for passes in {@code precision};
   * the bf16 copy (if any) starts at parameter {@code computeBase}.
   */
  PassWeights(
      ParameterLayout layout,
      Floats parameters,
      Precision precision,
      long computeBase,
      Kernels kernels,
      Buffers buffers) {
    this.layout = layout;
    this.parameters = parameters;
    this.precision = precision;
    this.computeBase = computeBase;
    this.kernels = kernels;
    this.buffers = buffers;
    this.bf16 = precision.products() == DType.BF16;
  }

  /** From now on the passes read their parameters from {@code shards}: before the first pass. */
  void shardFrom(ParameterShards shards) {
    if (computeWeights != null) {
      throw new IllegalStateException("the parameters are sharded before the first pass");
    }
    this.shards = Objects.requireNonNull(shards, "shards");
  }

  /** Whether the parameters come from shards (ZeRO-3). */
  boolean sharded() {
    return shards != null;
  }

  /** Whether the bf16 copy holds one bucket at a time, which every pass rounds as it takes it. */
  boolean copiesOneBucket() {
    return copiesOneBucket(precision, sharded());
  }

  /** The rule {@code LlamaModel.copiesOneBucket} states. */
  static boolean copiesOneBucket(Precision precision, boolean parametersSharded) {
    return parametersSharded || precision.stochasticRounding();
  }

  /** Bytes of the bf16 copy (allocated or to be), 0 in fp32. */
  long computeCopyBytes() {
    return bf16 ? computeElements() * BF16.bytes() : 0;
  }

  private long computeElements() {
    return copiesOneBucket() ? layout.largestMultipliedBucket() : layout.size() - computeBase;
  }

  /**
   * Makes {@code bucket}'s parameters ready to read, {@code next} being read after it in this pass
   * (null: none): from the shards under ZeRO-3; then, when {@code round}, rounds them to the bf16
   * copy (when the products are bf16).
   */
  void take(ParameterLayout.Range bucket, ParameterLayout.Range next, boolean round) {
    if (shards != null) {
      heldValues = shards.acquire(bucket, next);
      held = bucket;
    }
    if (round && bf16) {
      if (computeWeights == null) {
        computeWeights = buffers.allocate(BF16, computeElements());
      }
      rounded = bucket;
      kernels.roundToBf16(
          computeWeights.plus(bucket.from() - computeOrigin()),
          param(bucket.from()),
          bucket.to() - bucket.from());
    }
  }

  /** The pass is done with {@code bucket}: under ZeRO-3 its values go back. */
  void done(ParameterLayout.Range bucket) {
    if (shards != null) {
      held = null;
      heldValues = null;
      shards.release(bucket);
    }
  }

  /** The fp32 parameter at {@code offset}: in place, or in the bucket in use (ZeRO-3). */
  View param(long offset) {
    if (shards == null) {
      return View.of(parameters, offset);
    }
    if (held == null || offset < held.from() || offset >= held.to()) {
      throw new IllegalStateException(
          "parameter " + offset + " read outside the bucket in use " + held);
    }
    return heldValues.plus(offset - held.from());
  }

  /**
   * The weight matrix at parameter {@code offset} as the linear layers multiply it: the fp32
   * parameters, or their bf16 copy.
   */
  View weight(long offset) {
    return bf16 ? computeWeights.plus(offset - computeOrigin()) : param(offset);
  }

  /** The parameter at the bf16 copy's first element: the first weight, or the bucket in use. */
  private long computeOrigin() {
    return copiesOneBucket() ? rounded.from() : computeBase;
  }
}
