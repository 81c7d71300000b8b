/**
 * The run directory as a live contract, for whoever watches a run from any machine that sees the
 * shared storage: each rank's {@code <rank>/status.json} ({@link dev.cria.core.run.RankStatus},
 * read and written by {@link dev.cria.core.run.StatusFiles}), a moment's view of all ranks with the
 * stragglers and silent ranks ({@link dev.cria.core.run.RunView}), and following a rank's log as
 * {@code tail -F} does ({@link dev.cria.core.run.LogFollower}).
 */
package dev.cria.core.run;
