/** {@code cria prepare} and {@code cria data}: making and looking at Megatron datasets. */
package dev.cria.cli.data;
