package dev.cria.engine.backend;

/**
 * The scalars of one AdamW update of one tensor, as {@link Kernels#adamw} applies them: {@code m =
 * beta1 m + (1 - beta1) g}, {@code v = beta2 v + (1 - beta2) g^2}, {@code p = p * decay - lr (m /
 * c1) / (sqrt(v / c2) + eps)}.
 *
 * @param decay {@code 1 - lr * weightDecay} (1 for tensors that are not decayed)
 * @param c1 the first bias correction, {@code 1 - beta1^t}
 * @param c2 the second bias correction, {@code 1 - beta2^t}
 */
public record AdamWUpdate(
    float lr, float decay, float beta1, float beta2, float c1, float c2, float eps) {}
