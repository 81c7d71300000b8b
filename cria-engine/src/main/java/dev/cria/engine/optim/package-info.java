/**
 * Optimization: AdamW over flat buffers, global-norm gradient clipping, learning-rate schedules.
 */
package dev.cria.engine.optim;
