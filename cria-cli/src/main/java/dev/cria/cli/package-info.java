/**
 * The {@code cria} command line: one picocli subcommand per lifecycle step ({@code tokenizer},
 * {@code prepare}, {@code data}, ...), each in the sub-package of its feature.
 */
package dev.cria.cli;
