/** {@code cria image}: the container image a cluster runs cria from. */
package dev.cria.cli.image;
