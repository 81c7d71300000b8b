package dev.cria.onednn;

import dev.cria.engine.backend.Bf16Matmul;
import dev.cria.engine.backend.Bf16MatmulProvider;

/** Registered in {@code META-INF/services}: {@link OneDnnMatmul} for the CPU backend. */
public final class OneDnnProvider implements Bf16MatmulProvider {
  @Override
  public String name() {
    return "onednn";
  }

  @Override
  public Bf16Matmul open(int threads) {
    return OneDnnMatmul.open(threads);
  }
}
