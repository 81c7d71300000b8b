package dev.cria.engine.optim;

import dev.cria.engine.backend.Kernels;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;

/**
 * Global-norm gradient clipping as PyTorch's {@code clip_grad_norm_}: when the L2 norm of all
 * gradients exceeds {@code maxNorm}, scale them by {@code maxNorm / (norm + 1e-6)}.
 */
public final class GradientClipping {
  private GradientClipping() {}

  /** Clips {@code gradients} in place; returns the norm before clipping. */
  public static double clip(Kernels kernels, Floats gradients, double maxNorm) {
    double norm = Math.sqrt(kernels.sumOfSquares(View.of(gradients, 0), gradients.length()));
    double coefficient = maxNorm / (norm + 1e-6);
    if (coefficient < 1) {
      kernels.scale(View.of(gradients, 0), gradients.length(), (float) coefficient);
    }
    return norm;
  }
}
