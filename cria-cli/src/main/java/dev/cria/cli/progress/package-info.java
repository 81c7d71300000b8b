/** Progress display for long commands: a live status line on a terminal, periodic lines in logs. */
package dev.cria.cli.progress;
