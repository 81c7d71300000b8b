/**
 * Watching a run from any machine that sees its directory: {@code cria logs} (the rank logs, as
 * {@code tail -F}) and {@code cria top} (the ranks' live status, as neuron-top or nvtop show a
 * machine). Both read the run directory's contract ({@link dev.cria.core.run}); nothing here talks
 * to the training processes.
 */
package dev.cria.cli.watch;
