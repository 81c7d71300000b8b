/**
 * cria on Kubernetes: the container image ({@link dev.cria.k8s.ImageBuild}, Jib and jlink, no
 * Docker daemon), the manifests of a run (its training and compile jobs, each a {@link
 * dev.cria.k8s.JobKind} envelope around the same pod templates; the run's ConfigMap; the board's
 * Deployment and Service), and submitting, watching, stopping and cleaning them up with the fabric8
 * client, which lives only in this module.
 */
package dev.cria.k8s;
