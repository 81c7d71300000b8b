/**
 * Parallelism as the model sees it: the contract of the collective operations among the ranks of a
 * job ({@link dev.cria.engine.parallel.Collective}, failing with {@link
 * dev.cria.engine.parallel.CollectiveException}; {@link dev.cria.engine.parallel.Collective#single}
 * is the group of one), and how a job's ranks split into data- and tensor-parallel groups ({@link
 * dev.cria.engine.parallel.ParallelDims}, Megatron's order), and the cross-entropy over logits
 * split by vocabulary across a tensor-parallel group ({@link
 * dev.cria.engine.parallel.VocabParallelCrossEntropy}); the model itself splits its layers over
 * such a group ({@code dev.cria.engine.model.LlamaModel}, {@code ModelSlice}). The contract lives
 * in the engine so that a layer can call a collective; the transports that carry the data (shared
 * memory, TCP, Open MPI), the rendezvous and the fault watch stay in cria-train ({@code
 * dev.cria.train.distributed}), which hands the engine a group.
 */
package dev.cria.engine.parallel;
