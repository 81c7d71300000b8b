package dev.cria.engine.model;

import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.tensor.DType;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The matrix products one training step of a model runs, computed from its shape without allocating
 * it: what {@code cria compile} tunes and what a cached tuning is keyed by.
 */
public final class KernelShapes {
  private KernelShapes() {}

  /**
   * Every distinct GEMM shape of the forward and backward passes of {@code config} on micro-batches
   * of {@code tokens} tokens: the three products ({@link GemmShape#ofLinear}) of each projection of
   * attention (q, o: {@code dim -> dim}; k, v: {@code dim -> kvDim}), of the MLP (gate, up: {@code
   * dim -> ffn}; down: {@code ffn -> dim}) and of the LM head ({@code dim -> vocab}), in the order
   * the forward pass first meets them. Recomputation repeats products, it adds no shapes. None in
   * the bf16 precisions ({@link Precision#products()} bf16): their linear layers multiply on the
   * bf16 product, which picks its own kernels, so there is nothing of cria's to tune and a cached
   * tuning does not apply.
   */
  public static List<GemmShape> training(LlamaConfig config, int tokens, Precision precision) {
    if (tokens < 1) {
      throw new IllegalArgumentException("tokens per micro-batch must be at least 1: " + tokens);
    }
    if (precision.products() == DType.BF16) {
      return List.of();
    }
    int d = config.dim();
    int[][] layers = {
      {d, d},
      {d, config.kvDim()},
      {d, config.ffnDim()},
      {config.ffnDim(), d},
      {d, config.vocabSize()}
    };
    Set<GemmShape> shapes = new LinkedHashSet<>();
    for (int[] layer : layers) {
      shapes.addAll(GemmShape.ofLinear(tokens, layer[0], layer[1]));
    }
    return new ArrayList<>(shapes);
  }
}
