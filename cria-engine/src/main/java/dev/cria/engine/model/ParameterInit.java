package dev.cria.engine.model;

import dev.cria.engine.backend.Buffers;
import dev.cria.engine.tensor.View;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * NeMo/Megatron's initialization of a Llama model's parameters, deterministic for a seed: each
 * tensor draws from its own stream, split from the seed's in the layout's order, so a tensor's
 * values do not depend on how the others are stored, nor on how tensor parallelism cuts it.
 */
final class ParameterInit {
  private ParameterInit() {}

  /**
   * Fills {@code parameters} (laid out as {@code layout}): normal(0, std) for every matrix,
   * normal(0, std/sqrt(2L)) for the attention output and MLP down projections when {@code scaled}
   * ({@code use_scaled_init_method}), 1 for norm weights.
   */
  static void fill(
      ParameterLayout layout,
      Buffers buffers,
      View parameters,
      long seed,
      double std,
      boolean scaled) {
    if (!(std > 0)) {
      throw new IllegalArgumentException("init std must be positive, got " + std);
    }
    SplittableRandom root = new SplittableRandom(seed);
    double outputStd = scaled ? std / Math.sqrt(2.0 * layout.config().layers()) : std;
    for (ParameterLayout.Tensor t : layout.tensors()) {
      SplittableRandom random = root.split();
      Upload values = new Upload(buffers, parameters.plus(t.offset()));
      if (!t.weightDecay()) {
        for (long i = t.offset(); i < t.end(); i++) {
          values.put(1f);
        }
      } else {
        boolean output =
            t.name().endsWith("o_proj.weight") || t.name().endsWith("down_proj.weight");
        double sigma = output ? outputStd : std;
        if (t.split() == ParameterLayout.Split.NONE) {
          for (long i = t.offset(); i < t.end(); i++) {
            values.put((float) (gaussian(random) * sigma));
          }
        } else {
          fillPiece(layout, t, values, random, sigma);
        }
      }
      values.flush();
    }
  }

  /**
   * A tensor-parallel rank's piece of tensor {@code t}: the whole tensor's draws, in its row-major
   * order, up to the piece's last row, keeping the piece's own; so every layout gets the values of
   * the whole model's initialization, which a rank pays for in time (the draws), not memory.
   */
  private static void fillPiece(
      ParameterLayout layout,
      ParameterLayout.Tensor t,
      Upload values,
      SplittableRandom random,
      double sigma) {
    int cols = layout.wholeCols(t);
    int firstRow = layout.firstRow(t);
    int firstCol = layout.firstCol(t);
    int endCol = firstCol + t.cols();
    for (int i = 0; i < firstRow + t.rows(); i++) {
      for (int j = 0; j < cols; j++) {
        float value = (float) (gaussian(random) * sigma);
        if (i >= firstRow && j >= firstCol && j < endCol) {
          values.put(value); // the piece's rows follow one another, each its columns in order
        }
      }
    }
  }

  /** A tensor's values in the order they are drawn, uploaded a chunk at a time. */
  private static final class Upload {
    private final Buffers buffers;
    private final float[] chunk = new float[1 << 16];
    private View next;
    private int held;

    Upload(Buffers buffers, View first) {
      this.buffers = buffers;
      this.next = first;
    }

    void put(float value) {
      chunk[held++] = value;
      if (held == chunk.length) {
        flush();
      }
    }

    void flush() {
      if (held > 0) {
        buffers.upload(held == chunk.length ? chunk : Arrays.copyOf(chunk, held), next);
        next = next.plus(held);
        held = 0;
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
