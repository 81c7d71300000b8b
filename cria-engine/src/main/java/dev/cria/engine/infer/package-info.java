/**
 * Inference for {@code cria generate}: {@link dev.cria.engine.infer.LlamaDecoder} runs a trained
 * Llama one token at a time over a key/value cache, and {@link dev.cria.engine.infer.Sampler} picks
 * each next token from the logits (greedy, or temperature and nucleus sampling, seeded).
 *
 * <p>The decoder reads the same flat parameter buffer that training writes ({@link
 * dev.cria.engine.model.ParameterLayout}) and computes the same math as {@link
 * dev.cria.engine.model.LlamaModel}'s forward pass, so its logits match the training model's to
 * float rounding. Shapes use D = model width, H/KVH = query/key-value heads, hd = head size, F =
 * MLP width, V = vocabulary, T = the decoder's maximum context.
 */
package dev.cria.engine.infer;
