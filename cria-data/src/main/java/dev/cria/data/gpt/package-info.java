/**
 * Megatron-Core's GPT dataset order: which tokens form each training sample, and in which order.
 * {@link dev.cria.data.gpt.SplitRanges} divides the documents, {@link
 * dev.cria.data.gpt.GptIndexBuilder} builds the document, sample and shuffle indices with numpy's
 * {@code RandomState} ({@link dev.cria.data.gpt.NumpyRandom}), {@link
 * dev.cria.data.gpt.GptIndexCache} keeps them as {@code .npy} files, {@link
 * dev.cria.data.gpt.GptDataset} serves one split and {@link dev.cria.data.gpt.BlendedGptSamples}
 * blends several datasets by weight; {@link dev.cria.data.gpt.GlobalBatches} says which samples
 * form micro-batch m of rank r in a global batch, and {@link dev.cria.data.gpt.MicroBatch} holds
 * their tokens and labels.
 */
package dev.cria.data.gpt;
