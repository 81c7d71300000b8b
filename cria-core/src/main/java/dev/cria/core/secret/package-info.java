/**
 * Secrets as cria takes them: from a file or the environment, never the command line; made up and
 * shown once when none is given ({@link dev.cria.core.secret.Secrets}).
 */
package dev.cria.core.secret;
