package dev.cria.engine.backend;

/**
 * A native library that multiplies bf16 matrices, registered in {@code META-INF/services} and found
 * with {@link java.util.ServiceLoader}: the CPU backend uses the first that opens and its own Java
 * product otherwise, and says which ran and why.
 */
public interface Bf16MatmulProvider {

  /** Its name: {@code onednn}. */
  String name();

  /**
   * Opens it for {@code threads} threads.
   *
   * @throws IllegalStateException saying why it cannot run here (library missing, CPU not
   *     supported, switched off)
   */
  Bf16Matmul open(int threads);
}
