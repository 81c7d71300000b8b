/**
 * The seam between the engine and what it runs on. A {@link dev.cria.engine.backend.Backend} owns
 * memory and compute: {@link dev.cria.engine.backend.Buffers}, the {@link
 * dev.cria.engine.backend.Kernels} (forward and backward of every layer, AdamW, clipping,
 * decoding), its threads and its measured peak. {@link dev.cria.engine.backend.Backends} finds
 * implementations with {@link java.util.ServiceLoader}; the model, the optimizer, the decoder and
 * everything above reach kernels only through here.
 *
 * <p>Every buffer is a {@link java.lang.foreign.MemorySegment} of native-order elements addressed
 * by {@code long} element offsets; kernels take their operands as {@link
 * dev.cria.engine.tensor.View}s, which add the dtype (f32, or bf16 for the compute copy of the
 * weights and bf16-sr's moments). Above the backends nothing reads that memory directly: the model,
 * the optimizer, the decoder and the trainer zero, copy, upload and download through {@link
 * dev.cria.engine.backend.Buffers} (a rule of the architecture test). Shapes use N = tokens in the
 * micro-batch (batch x seq), D = model width, H/KVH = query/key-value heads, hd = head size, F =
 * MLP width, V = vocabulary.
 */
package dev.cria.engine.backend;
