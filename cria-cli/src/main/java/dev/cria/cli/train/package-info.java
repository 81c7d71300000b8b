/** {@code cria train}: the training job on a prepared dataset. */
package dev.cria.cli.train;
