/**
 * The training job of one process: {@link dev.cria.train.TrainingSetup} checks a config against the
 * data and opens it, {@link dev.cria.train.RunDirectory} lays out the run's files,
 * {@link dev.cria.train.Trainer} runs the loop. {@code config} reads and writes the YAML config;
 * {@code metrics} writes the per-rank log and TensorBoard event files with NeMo's metric names.
 */
package dev.cria.train;
