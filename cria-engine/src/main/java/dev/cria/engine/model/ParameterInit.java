package dev.cria.engine.model;

import dev.cria.engine.tensor.Floats;
import java.util.SplittableRandom;

/**
 * NeMo/Megatron's initialization of a Llama model's parameters, deterministic for a seed: each
 * tensor draws from its own stream, split from the seed's in the layout's order, so a tensor's
 * values do not depend on how the others are stored.
 */
final class ParameterInit {
  private ParameterInit() {}

  /**
   * Fills {@code parameters} (laid out as {@code layout}): normal(0, std) for every matrix,
   * normal(0, std/sqrt(2L)) for the attention output and MLP down projections when {@code scaled}
   * ({@code use_scaled_init_method}), 1 for norm weights.
   */
  static void fill(
      ParameterLayout layout, Floats parameters, long seed, double std, boolean scaled) {
    if (!(std > 0)) {
      throw new IllegalArgumentException("init std must be positive, got " + std);
    }
    SplittableRandom root = new SplittableRandom(seed);
    double outputStd = scaled ? std / Math.sqrt(2.0 * layout.config().layers()) : std;
    for (ParameterLayout.Tensor t : layout.tensors()) {
      SplittableRandom random = root.split();
      if (!t.weightDecay()) {
        for (long i = t.offset(); i < t.end(); i++) {
          parameters.set(i, 1f);
        }
        continue;
      }
      boolean output = t.name().endsWith("o_proj.weight") || t.name().endsWith("down_proj.weight");
      double sigma = output ? outputStd : std;
      for (long i = t.offset(); i < t.end(); i++) {
        parameters.set(i, (float) (gaussian(random) * sigma));
      }
    }
  }

  /** A standard normal sample (Marsaglia polar method), from a seeded stream. */
  private static double gaussian(SplittableRandom random) {
    while (true) {
      double u = 2 * random.nextDouble() - 1;
      double v = 2 * random.nextDouble() - 1;
      double s = u * u + v * v;
      if (s > 0 && s < 1) {
        return u * Math.sqrt(-2 * Math.log(s) / s);
      }
    }
  }
}
