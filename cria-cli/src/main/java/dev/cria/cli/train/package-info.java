/**
 * {@code cria train} and {@code cria worker}: the flags of the training job, turned into a {@link
 * dev.cria.train.RunConfig.Request} and handed to {@link dev.cria.train.RankRun} or {@link
 * dev.cria.train.LocalLauncher}; the console lines are printed here.
 */
package dev.cria.cli.train;
