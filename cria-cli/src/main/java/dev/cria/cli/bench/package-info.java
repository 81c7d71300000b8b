/** {@code cria bench}: training-step throughput and MFU on this machine. */
package dev.cria.cli.bench;
