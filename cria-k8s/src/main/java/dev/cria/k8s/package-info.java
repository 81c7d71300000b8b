/**
 * cria on Kubernetes: the manifests of a run (the training and compile MPIJobs of the Kubeflow MPI
 * Operator, the board's Deployment, Service and Secret), and submitting, watching, stopping and
 * cleaning them up with the fabric8 client, which lives only in this module.
 */
package dev.cria.k8s;
