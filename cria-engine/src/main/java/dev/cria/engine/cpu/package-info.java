/**
 * The CPU backend: {@link dev.cria.engine.cpu.CpuKernels} (the Vector API on all cores of a {@link
 * dev.cria.engine.cpu.Parallel} pool, the cache-blocked {@link dev.cria.engine.cpu.Gemm}, attention
 * with an online softmax, decoding and AdamW in files of their own), and the FMA peak that MFU is
 * measured against. Reached only through {@link dev.cria.engine.backend.Backends}.
 */
package dev.cria.engine.cpu;
