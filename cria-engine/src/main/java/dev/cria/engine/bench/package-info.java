/** Timing whole training steps: tokens/s, the split by phase, achieved FLOP/s and MFU. */
package dev.cria.engine.bench;
