package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Where a run's board is and how to reach it: the port-forward, the URL, the user, the password.
 */
final class BoardAddress {
  private final KubernetesClient client;
  private final String namespace;

  BoardAddress(KubernetesClient client, String namespace) {
    this.client = client;
    this.namespace = namespace;
  }

  /**
   * How to open the board of {@code job}: the port-forward to run, the URL and the user; the
   * password only when {@code withPassword}.
   */
  List<String> lines(String job, boolean withPassword) {
    String name = job + "-board";
    try {
      Service service = client.services().inNamespace(namespace).withName(name).get();
      if (service == null) {
        throw new K8sException(
            "Service "
                + namespace
                + "/"
                + name
                + " does not exist (cria k8s submit board makes"
                + " it)");
      }
      List<String> lines = new ArrayList<>();
      lines.add(
          "kubectl port-forward -n "
              + namespace
              + " svc/"
              + name
              + " "
              + Manifests.BOARD_PORT
              + ":"
              + Manifests.BOARD_PORT);
      lines.add(
          "then open http://127.0.0.1:"
              + Manifests.BOARD_PORT
              + "/ as user "
              + Manifests.BOARD_USER);
      if (withPassword) {
        lines.add("password: " + boardPassword(name));
      } else {
        lines.add(
            "password: cria k8s board-url "
                + job
                + " --password (or kubectl get secret -n "
                + namespace
                + " "
                + name
                + " -o jsonpath='{.data.password}' | base64 -d)");
      }
      return lines;
    } catch (KubernetesClientException e) {
      throw apiError("Service " + namespace + "/" + name, e);
    }
  }

  /** The password in the board's Secret ({@code data}, or {@code stringData} not yet encoded). */
  private String boardPassword(String name) {
    Secret secret = client.secrets().inNamespace(namespace).withName(name).get();
    if (secret != null && secret.getData() != null && secret.getData().containsKey("password")) {
      return new String(
          Base64.getDecoder().decode(secret.getData().get("password")), StandardCharsets.UTF_8);
    }
    if (secret != null
        && secret.getStringData() != null
        && secret.getStringData().containsKey("password")) {
      return secret.getStringData().get("password");
    }
    throw new K8sException("Secret " + namespace + "/" + name + " has no password");
  }

  private static K8sException apiError(String what, KubernetesClientException e) {
    return Cluster.apiError(what, e);
  }
}
