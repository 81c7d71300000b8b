/**
 * Commands that use a trained model: {@code cria export} (Hugging Face files), {@code cria eval}
 * (loss and perplexity on a split) and {@code cria generate} (sampling with a KV cache). Each takes
 * a run directory (its newest valid checkpoint) or a {@code step-N} checkpoint.
 */
package dev.cria.cli.model;
