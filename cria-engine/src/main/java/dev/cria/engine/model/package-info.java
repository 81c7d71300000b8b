/**
 * The Llama model: its shape ({@link dev.cria.engine.model.LlamaConfig}), where each parameter
 * lives in the flat buffers ({@link dev.cria.engine.model.ParameterLayout}), and the training-time
 * forward and backward passes ({@link dev.cria.engine.model.LlamaModel}).
 */
package dev.cria.engine.model;
