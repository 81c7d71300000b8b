/**
 * {@code cria board}: a password-protected web dashboard over a log directory of runs ({@link
 * dev.cria.board.Board}): TensorBoard event files (cria's and NeMo's) charted with uPlot, smoothing
 * as TensorBoard smooths ({@link dev.cria.board.Smoothing}), each run's ranks from their {@code
 * status.json} and logs, and Prometheus metrics. It reads run directories and never the engine; it
 * never writes.
 */
package dev.cria.board;
