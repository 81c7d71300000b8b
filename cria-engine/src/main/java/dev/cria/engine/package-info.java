/**
 * The training engine: off-heap buffers addressed by {@code long} offsets, and the views of them
 * with a dtype that kernels take ({@code tensor}), the backend seam ({@code backend}: memory,
 * kernels and peak, found by ServiceLoader) with its two implementations ({@code cpu}, the fast
 * one; {@code reference}, the plain twin), the Llama model's forward and backward passes ({@code
 * model}), AdamW and learning-rate schedules ({@code optim}), the collectives' contract and the dp
 * x tp rank layout ({@code parallel}, the transports being in cria-train), decoding ({@code
 * infer}), safetensors and Hugging Face files ({@code io}) and the step benchmark ({@code bench}).
 * Nothing here knows about datasets or tokenizers.
 */
package dev.cria.engine;
