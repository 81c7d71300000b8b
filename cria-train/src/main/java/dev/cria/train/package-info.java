/**
 * The training job. {@link dev.cria.train.RankRun} is one rank's whole run (join, set up, lay out,
 * train, stop), the same for {@code cria train}, {@code cria worker} and a pod; {@link
 * dev.cria.train.LocalLauncher} starts N of them on one machine. {@link dev.cria.train.RunConfig}
 * layers the config, {@link dev.cria.train.TrainingSetup} checks it against the data and opens it,
 * {@link dev.cria.train.RunDirectory} lays out the run's files and {@link dev.cria.train.Trainer}
 * only loops. {@link dev.cria.train.Evaluation} and {@link dev.cria.train.Generation} use a trained
 * model. The components are packages of their own: {@code config}, {@code distributed}
 * (collectives, gradient buckets, ZeRO-1), {@code checkpoint} (save, resume, export) and {@code
 * metrics}.
 */
package dev.cria.train;
