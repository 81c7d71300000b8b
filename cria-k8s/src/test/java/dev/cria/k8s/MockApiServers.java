package dev.cria.k8s;

import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;

/**
 * fabric8's mock API server, started: objects kept as a real server keeps them (CRUD), the custom
 * resources {@code crds} served too, and expectations set by a test answered first.
 */
final class MockApiServers {
  private MockApiServers() {}

  static KubernetesMockServer start(List<CustomResourceDefinitionContext> crds) {
    Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
    KubernetesMockServer server =
        new KubernetesMockServer(
            new Context(),
            new MockWebServer(),
            responses,
            new KubernetesMixedDispatcher(responses, crds),
            false);
    server.init();
    return server;
  }
}
