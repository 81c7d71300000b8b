package dev.cria.train.metrics;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Kubeflow Trainer's status endpoint for tests: HTTPS on loopback with a self-signed certificate
 * made by the JDK's keytool for {@code 127.0.0.1}, its PEM written beside the store (the CA file a
 * pod gets), recording each report. It answers {@link #answer} (200 unless a test says otherwise),
 * after {@link #hold} opens.
 */
public final class FakeTrainerStatusServer implements AutoCloseable {
  /** The endpoint's path for TrainJob {@code ns/brown}. */
  public static final String PATH =
      "/apis/trainer.kubeflow.org/v1alpha1/namespaces/ns/trainjobs/brown/status";

  private static final JsonMapper JSON = JsonMapper.builder().build();

  /** One report as the server saw it. */
  public record Request(String authorization, String contentType, JsonNode body) {
    /** Its {@code trainerStatus.metrics} as name to value. */
    public Map<String, String> metrics() {
      Map<String, String> out = new LinkedHashMap<>();
      for (JsonNode m : body.path("trainerStatus").path("metrics")) {
        out.put(m.get("name").asString(), m.get("value").asString());
      }
      return out;
    }
  }

  /** Reports received, in order. */
  public final BlockingQueue<Request> received = new LinkedBlockingQueue<>();

  /** The HTTP status the next answers carry. */
  public final AtomicInteger answer = new AtomicInteger(200);

  /** Answers wait for this latch (open unless a test replaces it). */
  public volatile CountDownLatch hold = new CountDownLatch(0);

  private final HttpsServer server;
  private final Path ca;

  private FakeTrainerStatusServer(HttpsServer server, Path ca) {
    this.server = server;
    this.ca = ca;
  }

  /** Starts one with a new key store and certificate in {@code dir}. */
  public static FakeTrainerStatusServer start(Path dir) throws IOException, InterruptedException {
    return start(dir.resolve("server.p12"), certificate("server", dir.resolve("server.p12")));
  }

  /**
   * Starts one serving the key in {@code store}, whose certificate is {@code ca} (made once by
   * {@link #certificate}, for the servers of several tests: keytool takes a second a run).
   */
  public static FakeTrainerStatusServer start(Path store, Path ca) throws IOException {
    HttpsServer server =
        HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    try {
      server.setHttpsConfigurator(new HttpsConfigurator(tls(store)));
    } catch (GeneralSecurityException e) {
      throw new IOException(e);
    }
    FakeTrainerStatusServer fake = new FakeTrainerStatusServer(server, ca);
    server.createContext(PATH, fake::handle);
    server.start();
    return fake;
  }

  /** The CA file that trusts this server. */
  public Path caCert() {
    return ca;
  }

  /** The endpoint's URL. */
  public URI url() {
    return URI.create("https://127.0.0.1:" + server.getAddress().getPort() + PATH);
  }

  /** The next report, waiting at most {@code seconds}; null if none came. */
  public Request next(int seconds) throws InterruptedException {
    return received.poll(seconds, TimeUnit.SECONDS);
  }

  @Override
  public void close() {
    hold.countDown();
    server.stop(0);
  }

  private void handle(com.sun.net.httpserver.HttpExchange exchange) throws IOException {
    try (exchange;
        InputStream in = exchange.getRequestBody()) {
      byte[] body = in.readAllBytes();
      hold.await(20, TimeUnit.SECONDS);
      int code = answer.get(); // read before a test can see the request and change it
      received.add(
          new Request(
              exchange.getRequestHeaders().getFirst("Authorization"),
              exchange.getRequestHeaders().getFirst("Content-Type"),
              JSON.readTree(body)));
      byte[] reply =
          (code == 200 ? "{}" : "{\"kind\":\"Status\",\"message\":\"token refused\"}")
              .getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(code, reply.length);
      exchange.getResponseBody().write(reply);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A self-signed certificate for {@code 127.0.0.1} in a PKCS12 store, and its PEM beside it. */
  public static Path certificate(String alias, Path store)
      throws IOException, InterruptedException {
    String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
    run(
        keytool,
        "-genkeypair",
        "-alias",
        alias,
        "-keyalg",
        "EC",
        "-groupname",
        "secp256r1",
        "-dname",
        "CN=" + alias,
        "-ext",
        "san=ip:127.0.0.1",
        "-validity",
        "2",
        "-keystore",
        store.toString(),
        "-storetype",
        "PKCS12",
        "-storepass",
        "changeit");
    Path pem = store.resolveSibling(alias + ".crt");
    run(
        keytool,
        "-exportcert",
        "-rfc",
        "-alias",
        alias,
        "-keystore",
        store.toString(),
        "-storepass",
        "changeit",
        "-file",
        pem.toString());
    return pem;
  }

  private static void run(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IOException(String.join(" ", command) + " failed: " + out);
    }
  }

  private static SSLContext tls(Path store) throws IOException, GeneralSecurityException {
    KeyStore keys = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(store)) {
      keys.load(in, "changeit".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, "changeit".toCharArray());
    SSLContext tls = SSLContext.getInstance("TLS");
    tls.init(kmf.getKeyManagers(), null, null);
    return tls;
  }
}
