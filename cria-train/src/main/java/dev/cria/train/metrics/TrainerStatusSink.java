package dev.cria.train.metrics;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Rank 0's progress, time left and latest losses in its Kubeflow Trainer v2 {@code TrainJob}'s
 * {@code status.trainerStatus}, where the cluster runs Trainer's {@code TrainJobStatus} feature:
 * the controller then puts {@code KUBEFLOW_TRAINER_SERVER_URL} (its HTTPS endpoint for this
 * TrainJob), {@code KUBEFLOW_TRAINER_SERVER_CA_CERT} (the CA that signed it, a file) and {@code
 * KUBEFLOW_TRAINER_SERVER_TOKEN} (a projected service-account token, a file that rotates) into the
 * pods of its {@code trainer} step, and a report is {@code POST}ed as {@code {"trainerStatus":
 * {...}}} with the token as a bearer. (Under MPI the launcher passes the variables on to the ranks,
 * and the nodes' pods mount the same files themselves: cria-k8s's {@code TrainJobKind}.)
 *
 * <p>As the API's guidance asks: at most one report every {@link #INTERVAL} (a tiny model takes
 * hundreds of steps a second), the token read again for each report, and a report that fails never
 * touches the run: reports go from a thread of their own, the newest replacing one not yet sent,
 * and a failure is a warning in the rank log (once per distinct failure). The last report, when the
 * run ends, waits at most {@link #TIMEOUT}. The token is never written anywhere.
 */
public final class TrainerStatusSink implements MetricsSink {
  /** The controller's endpoint for this TrainJob's status. */
  public static final String URL = "KUBEFLOW_TRAINER_SERVER_URL";

  /** The file of the CA certificate the endpoint's certificate chains to. */
  public static final String CA_CERT = "KUBEFLOW_TRAINER_SERVER_CA_CERT";

  /** The file of the bearer token (a projected service-account token). */
  public static final String TOKEN = "KUBEFLOW_TRAINER_SERVER_TOKEN";

  /** The least time between two reports (Trainer's SDK throttles to the same). */
  public static final Duration INTERVAL = Duration.ofSeconds(5);

  /** How long one report may take, and the last one may hold up the end of the run. */
  public static final Duration TIMEOUT = Duration.ofSeconds(10);

  private static final JsonMapper JSON = JsonMapper.builder().build();

  private final Endpoint endpoint;
  private final Consumer<String> warn;
  private final Duration interval;
  private final Duration timeout;
  private final Clock clock;
  private final ExecutorService sender;
  private final AtomicReference<ObjectNode> pending = new AtomicReference<>(); // newest unsent
  private volatile String lastFailure = "";
  private Instant lastQueued; // null until the first report
  private long queuedStep = -1;
  private StepMetrics last;
  private Validation lastValidation;
  private HttpClient client;
  private long caModified = Long.MIN_VALUE;

  /**
   * Where to report.
   *
   * @param url the TrainJob's status endpoint (HTTPS)
   * @param caCert the CA certificate file (PEM)
   * @param token the bearer token file
   */
  public record Endpoint(URI url, Path caCert, Path token) {
    public Endpoint {
      if (!"https".equalsIgnoreCase(url.getScheme())) {
        throw new IllegalArgumentException(
            URL + " must be an https URL (the token goes with every report), got " + url);
      }
    }

    /**
     * The endpoint the controller put in {@code env}; empty where there is none (no Trainer, or its
     * {@code TrainJobStatus} feature off). Refuses a URL without the CA or token files, naming the
     * missing variable.
     */
    public static Optional<Endpoint> fromEnvironment(Map<String, String> env) {
      String url = env.get(URL);
      if (url == null || url.isBlank()) {
        return Optional.empty();
      }
      for (String name : new String[] {CA_CERT, TOKEN}) {
        if (env.get(name) == null || env.get(name).isBlank()) {
          throw new IllegalArgumentException(
              URL + " is set but " + name + " is not: cannot report progress to the TrainJob");
        }
      }
      return Optional.of(
          new Endpoint(
              URI.create(url.strip()), Path.of(env.get(CA_CERT)), Path.of(env.get(TOKEN))));
    }
  }

  /**
   * {@code local}, and where Kubeflow Trainer asks for it in {@code env}, the TrainJob's status
   * too: an endpoint that cannot be used is a warning in {@code local}, never a failed run.
   */
  public static MetricsSink besides(MetricsSink local, Map<String, String> env) throws IOException {
    Optional<Endpoint> endpoint;
    try {
      endpoint = Endpoint.fromEnvironment(env);
    } catch (IllegalArgumentException e) {
      local.warn(e.getMessage());
      return local;
    }
    if (endpoint.isEmpty()) {
      return local;
    }
    TrainerStatusSink trainer = new TrainerStatusSink(endpoint.get(), local::warn);
    local.info(trainer.describe());
    return MetricsSink.of(List.of(trainer, local)); // closed first: its last warnings reach the log
  }

  /** Reports to {@code endpoint}, warning through {@code warn} when a report fails. */
  public TrainerStatusSink(Endpoint endpoint, Consumer<String> warn) {
    this(endpoint, warn, INTERVAL, TIMEOUT, Clock.systemUTC());
  }

  /** As above, with the spacing of the reports, their timeout and the clock (tests choose). */
  TrainerStatusSink(
      Endpoint endpoint, Consumer<String> warn, Duration interval, Duration timeout, Clock clock) {
    this.endpoint = endpoint;
    this.warn = warn;
    this.interval = interval;
    this.timeout = timeout;
    this.clock = clock;
    this.sender =
        Executors.newSingleThreadExecutor(r -> {
          Thread t = new Thread(r, "trainer-status");
          t.setDaemon(true);
          return t;
        });
  }

  /** Where the reports go, for the run's header. */
  public String describe() {
    return "progress: reported to the TrainJob's status (Kubeflow Trainer, "
        + endpoint.url()
        + ") at most every "
        + interval.toSeconds()
        + " s";
  }

  @Override
  public synchronized void step(StepMetrics metrics) {
    last = metrics;
    offer(metrics.step() >= metrics.maxSteps());
  }

  @Override
  public synchronized void validation(Validation validation) {
    lastValidation = validation;
    offer(true); // rare, and what someone watching the job waits for
  }

  @Override
  public synchronized void failed(String message) { // also from a peer watch's thread
    offer(true);
  }

  /** Sends what is still unsent, waiting at most the timeout; then stops the sender. */
  @Override
  public void close() {
    synchronized (this) {
      if (last != null && last.step() != queuedStep) {
        pending.set(payload(last, lastValidation, clock.instant())); // one the interval held back
      }
    }
    Future<?> done = sender.submit(this::drain); // after whatever is on its way
    try {
      done.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      warn.accept(
          String.format(
              Locale.ROOT,
              "the last progress report to the TrainJob took over %.1f s; dropped",
              timeout.toMillis() / 1000.0));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException e) {
      // send reports its own failures
    }
    sender.shutdownNow();
  }

  /** Queues the newest report when the interval has passed (or {@code now}), never blocking. */
  private void offer(boolean now) {
    if (last == null) {
      return;
    }
    Instant t = clock.instant();
    if (!now && lastQueued != null && Duration.between(lastQueued, t).compareTo(interval) < 0) {
      return;
    }
    lastQueued = t;
    queuedStep = last.step();
    if (pending.getAndSet(payload(last, lastValidation, t)) == null) {
      sender.execute(this::drain); // else the drain already queued sends this newer one
    }
  }

  /** On the sender's thread: sends the newest pending report, if any. */
  private void drain() {
    ObjectNode report = pending.getAndSet(null);
    if (report != null) {
      send(report);
    }
  }

  private void send(ObjectNode report) {
    String failure;
    try {
      String token = Files.readString(endpoint.token()).strip(); // it rotates: read it every time
      HttpRequest request =
          HttpRequest.newBuilder(endpoint.url())
              .timeout(timeout)
              .header("Authorization", "Bearer " + token)
              .header("Content-Type", "application/json")
              .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(report)))
              .build();
      HttpResponse<String> response = client().send(request, HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() / 100 == 2) {
        if (!lastFailure.isEmpty()) {
          warn.accept("progress reports reach the TrainJob again");
          lastFailure = "";
        }
        return;
      }
      failure = "HTTP " + response.statusCode() + " " + firstLine(response.body());
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      failure =
          e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    if (!failure.equals(lastFailure)) {
      lastFailure = failure;
      warn.accept(
          "progress report to the TrainJob failed ("
              + failure
              + "); training goes on, the next report in "
              + interval.toSeconds()
              + " s or more");
    }
  }

  /** The client, made again when the CA file changes (Trainer rotates its certificates). */
  private HttpClient client() throws IOException, GeneralSecurityException {
    long modified = Files.getLastModifiedTime(endpoint.caCert()).toMillis();
    if (client == null || modified != caModified) {
      client =
          HttpClient.newBuilder()
              .sslContext(trusting(endpoint.caCert()))
              .connectTimeout(timeout)
              .build();
      caModified = modified;
    }
    return client;
  }

  /** TLS that trusts exactly the certificates in {@code pem} (a CA bundle). */
  static SSLContext trusting(Path pem) throws IOException, GeneralSecurityException {
    KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
    trust.load(null, null);
    try (InputStream in = Files.newInputStream(pem)) {
      int i = 0;
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        trust.setCertificateEntry("ca-" + i++, c);
      }
      if (i == 0) {
        throw new GeneralSecurityException(pem + " holds no certificate");
      }
    }
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext tls = SSLContext.getInstance("TLS");
    tls.init(null, tmf.getTrustManagers(), null);
    return tls;
  }

  /**
   * The report for {@code m}: {@code progressPercentage} (steps done of {@code max_steps}, rounded
   * down), {@code estimatedRemainingSeconds} (when known), the metrics {@code loss}, {@code
   * val_loss} (once validated), {@code lr}, {@code step}, {@code max_steps}, {@code
   * tokens_per_sec}, {@code mfu} (when measured), and {@code lastUpdatedTime}.
   */
  static ObjectNode payload(StepMetrics m, Validation v, Instant at) {
    ObjectNode status = JSON.createObjectNode();
    long percent = m.maxSteps() <= 0 ? 0 : Math.min(100, 100 * m.step() / m.maxSteps());
    status.put("progressPercentage", (int) Math.max(0, percent));
    if (m.step() >= m.maxSteps()) {
      status.put("estimatedRemainingSeconds", 0);
    } else if (Double.isFinite(m.etaSeconds()) && m.etaSeconds() >= 0) {
      status.put(
          "estimatedRemainingSeconds",
          (int) Math.min(Integer.MAX_VALUE, Math.round(m.etaSeconds())));
    }
    ArrayNode metrics = status.putArray("metrics");
    metric(metrics, "loss", "%.4f", m.loss());
    if (v != null) {
      metric(metrics, "val_loss", "%.4f", v.loss());
    }
    metric(metrics, "lr", "%.4e", m.lr());
    metrics.addObject().put("name", "step").put("value", Long.toString(m.step()));
    metrics.addObject().put("name", "max_steps").put("value", Long.toString(m.maxSteps()));
    metric(metrics, "tokens_per_sec", "%.1f", m.tokensPerSec());
    metric(metrics, "mfu", "%.4f", m.mfu());
    status.put("lastUpdatedTime", at.truncatedTo(ChronoUnit.SECONDS).toString());
    ObjectNode report = JSON.createObjectNode();
    report.set("trainerStatus", status);
    return report;
  }

  /** A metric when its value is a number (Trainer's values are strings of 1 to 64 characters). */
  private static void metric(ArrayNode metrics, String name, String format, double value) {
    if (Double.isFinite(value)) {
      metrics.addObject().put("name", name).put("value", String.format(Locale.ROOT, format, value));
    }
  }

  private static String firstLine(String body) {
    String s = body == null ? "" : body.strip();
    int nl = s.indexOf('\n');
    s = nl < 0 ? s : s.substring(0, nl);
    return s.length() > 200 ? s.substring(0, 200) + "..." : s;
  }
}
