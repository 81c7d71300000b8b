/**
 * Megatron-Core's GPT dataset order: which tokens form each training sample. So far the random
 * source it is defined by, numpy's legacy {@code RandomState} ({@link dev.cria.data.gpt.NumpyRandom}).
 */
package dev.cria.data.gpt;
