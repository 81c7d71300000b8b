/**
 * The training engine, on the CPU: off-heap float buffers addressed by {@code long} offsets
 * ({@code tensor}), kernels with a plain reference twin each ({@code kernels}), the Llama model's
 * forward and backward passes ({@code model}), AdamW and learning-rate schedules ({@code optim}),
 * and safetensors I/O ({@code io}).
 */
package dev.cria.engine;
