package dev.cria.train.distributed;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.StochasticRounding;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleUnaryOperator;

/**
 * AdamW over the parameter shards this rank owns, with their share of the moments (ZeRO-1, as
 * Megatron-Core's distributed optimizer): one {@link AdamW} per shard. For a single process the one
 * shard is the whole model. The global gradient norm comes from the shards' sums of squares, summed
 * over the ranks; clipping then scales only the own shards.
 */
public final class ShardedAdamW implements AutoCloseable {
  private final List<ParameterLayout.Range> shards;
  private final List<AdamW> parts = new ArrayList<>();
  private final Kernels kernels;

  private final StochasticRounding rounding; // null: fp32 storage

  private ShardedAdamW(
      ParameterLayout layout,
      AdamW.Settings settings,
      Backend backend,
      List<ParameterLayout.Range> shards,
      StochasticRounding rounding) {
    this.shards = List.copyOf(shards);
    this.kernels = backend.kernels();
    this.rounding = rounding;
    try {
      for (ParameterLayout.Range s : shards) {
        parts.add(new AdamW(layout, settings, backend, s.from(), s.to(), rounding));
      }
    } catch (RuntimeException | Error e) {
      parts.forEach(AdamW::close);
      throw e;
    }
  }

  /** AdamW over every parameter: one process. */
  public static ShardedAdamW whole(
      ParameterLayout layout, AdamW.Settings settings, Backend backend) {
    return whole(layout, settings, backend, null);
  }

  /**
   * As above, with bf16 storage by {@code rounding} (the gradients it reads, the parameters and
   * moments it writes), or fp32 (null).
   */
  public static ShardedAdamW whole(
      ParameterLayout layout,
      AdamW.Settings settings,
      Backend backend,
      StochasticRounding rounding) {
    return new ShardedAdamW(
        layout, settings, backend, List.of(new ParameterLayout.Range(0, layout.size())), rounding);
  }

  /** AdamW over {@code shards} only (this rank's shard of every gradient bucket). */
  public static ShardedAdamW over(
      ParameterLayout layout,
      AdamW.Settings settings,
      Backend backend,
      List<ParameterLayout.Range> shards) {
    return over(layout, settings, backend, shards, null);
  }

  /** As above, with bf16 storage by {@code rounding}, or fp32 (null). */
  public static ShardedAdamW over(
      ParameterLayout layout,
      AdamW.Settings settings,
      Backend backend,
      List<ParameterLayout.Range> shards,
      StochasticRounding rounding) {
    return new ShardedAdamW(layout, settings, backend, shards, rounding);
  }

  /**
   * Makes {@code parameters} (all of them) what this optimizer stores: bf16 values under stochastic
   * rounding, drawn as step 0's (values that already are, a checkpoint's, stay as they are); as
   * they are in fp32.
   */
  public void store(Floats parameters) {
    if (rounding != null) {
      rounding.round(
          kernels,
          View.of(parameters, 0),
          parameters.length(),
          0,
          0,
          StochasticRounding.Stream.PARAMETERS);
    }
  }

  /** AdamW's update count: every shard's, the same on every rank. */
  public long steps() {
    return parts.getFirst().steps();
  }

  /** The AdamW of every shard this rank owns, for checkpoints. */
  public List<AdamW> parts() {
    return parts;
  }

  /** The sum of the squares of this rank's shards of {@code parameters}, in double. */
  public double shardSquares(Floats parameters) {
    double squares = 0;
    for (ParameterLayout.Range s : shards) {
      squares += kernels.sumOfSquares(View.of(parameters, s.from()), s.size());
    }
    return squares;
  }

  /** Bytes of the moments this rank holds. */
  public long stateBytes() {
    return parts.stream().mapToLong(AdamW::stateBytes).sum();
  }

  /**
   * Clips the gradients of the own shards to the global norm {@code clip} (0: no clipping), as
   * PyTorch's {@code clip_grad_norm_} with its 1e-6, and applies AdamW at {@code lr}. The gradients
   * of the shards must hold their sums over the ranks. Returns the global norm before clipping.
   *
   * @param sumOverRanks the sum of a value over the ranks (the value itself for one rank)
   */
  public double clipAndStep(
      Floats parameters,
      Floats gradients,
      double lr,
      double clip,
      DoubleUnaryOperator sumOverRanks) {
    if (rounding != null) { // bf16 gradients: what the optimizer reads, the norm included
      long step = parts.isEmpty() ? 1 : parts.getFirst().steps() + 1;
      for (ParameterLayout.Range s : shards) {
        rounding.round(
            kernels,
            View.of(gradients, s.from()),
            s.size(),
            s.from(),
            step,
            StochasticRounding.Stream.GRADIENTS);
      }
    }
    double squares = 0;
    for (ParameterLayout.Range s : shards) {
      squares += kernels.sumOfSquares(View.of(gradients, s.from()), s.size());
    }
    double norm = Math.sqrt(sumOverRanks.applyAsDouble(squares));
    if (clip > 0 && clip / (norm + 1e-6) < 1) {
      for (ParameterLayout.Range s : shards) {
        kernels.scale(View.of(gradients, s.from()), s.size(), (float) (clip / (norm + 1e-6)));
      }
    }
    for (AdamW part : parts) {
      part.step(parameters, gradients, lr);
    }
    return norm;
  }

  @Override
  public void close() {
    parts.forEach(AdamW::close);
  }
}
