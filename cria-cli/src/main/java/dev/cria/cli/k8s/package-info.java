/**
 * {@code cria k8s}: the run on a Kubernetes cluster, from the user's side: render the manifests,
 * submit them, watch the job (status, logs), stop it, clean up, open the board; and the launcher
 * pod's wait for its workers. The cluster work is {@link dev.cria.k8s}'s; these only parse and
 * print.
 */
package dev.cria.cli.k8s;
