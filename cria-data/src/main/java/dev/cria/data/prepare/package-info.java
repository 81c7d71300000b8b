/**
 * {@code cria prepare}: JSONL documents in, one Megatron indexed dataset per JSON key out, as
 * NeMo's {@code preprocess_data_for_megatron.py} writes them.
 *
 * <p>The {@link dev.cria.data.prepare.PreparePipeline} reads the inputs in order in batches of
 * lines, tokenizes batches on worker threads, and writes results back in input order, so the output
 * is the same for any number of workers. Memory is bounded by the number of batches in flight.
 */
package dev.cria.data.prepare;
