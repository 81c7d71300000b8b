/**
 * Data-parallel training: a rank's place in the job ({@link
 * dev.cria.train.distributed.RankEnvironment}); how only the job's own ranks join ({@link
 * dev.cria.train.distributed.JobKey}, the handshake and the rendezvous); the collectives between
 * ranks (the engine's {@link dev.cria.engine.parallel.Collective}, carried here by a shared mapping
 * between the ranks of one host, shared memory within hosts and TCP rails between them for a job
 * across hosts, a TCP ring otherwise, Open MPI's own under mpirun, chosen by {@link
 * dev.cria.train.distributed.Collectives}); small values the ranks agree on ({@link
 * dev.cria.train.distributed.RankValues}), the gradient buckets reduce-scattered while the backward
 * pass runs and their parameters all-gathered ({@link dev.cria.train.distributed.GradientBuckets},
 * which with ZeRO-2 hands the gradients a rank does not own back to the system through {@link
 * dev.cria.train.distributed.Pages}), and AdamW over this rank's shards ({@link
 * dev.cria.train.distributed.ShardedAdamW}). Faults: a rank watches some of its peers through the
 * status files they keep and aborts its group, naming the peer, when one failed, died, went silent
 * or is stuck ({@link dev.cria.train.distributed.PeerWatch}, which {@link
 * dev.cria.train.distributed.CountedCollective}'s counts let tell who waits for whom); a worker
 * learns that its launcher died from the kernel ({@link dev.cria.train.distributed.LauncherLink}).
 * The model knows nothing of any of it.
 */
package dev.cria.train.distributed;
