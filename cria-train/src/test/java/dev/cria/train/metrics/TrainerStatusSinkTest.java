package dev.cria.train.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.cria.train.metrics.FakeTrainerStatusServer.Request;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * The TrainJob progress reports against an HTTPS server on loopback with a certificate made here
 * (keytool), as Trainer's status server would take them: the bearer token, the payload's shape
 * (checked against Trainer v2.3's TrainJob CRD from ../shared), the spacing, failures that never
 * reach the run.
 */
class TrainerStatusSinkTest {
  private static final JsonMapper JSON = JsonMapper.builder().build();

  @TempDir Path dir;
  private FakeTrainerStatusServer server;
  private final List<String> warnings = Collections.synchronizedList(new ArrayList<>());
  private final MutableClock clock = new MutableClock();
  private Path ca;
  private Path token;

  @TempDir static Path keys;
  private static Path serverCa;

  @BeforeAll
  static void certificate() throws Exception {
    serverCa = FakeTrainerStatusServer.certificate("server", keys.resolve("server.p12"));
  }

  @BeforeEach
  void startServer() throws Exception {
    server = FakeTrainerStatusServer.start(keys.resolve("server.p12"), serverCa);
    ca = server.caCert();
    token = dir.resolve("token");
    Files.writeString(token, "first-token\n");
  }

  @AfterEach
  void stopServer() {
    server.close();
  }

  @Test
  void reportsProgressTimeLeftAndLossWithTheTokenReadAgainEachTime() throws Exception {
    TrainerStatusSink sink = sink(Duration.ofSeconds(5), Duration.ofSeconds(10));
    for (long s = 1; s <= 10; s++) {
      sink.step(step(s, 20, 6.0 - s * 0.01, 30.0));
    }
    Request first = next();
    assertThat(first.authorization()).isEqualTo("Bearer first-token");
    assertThat(first.contentType()).isEqualTo("application/json");
    assertThat(first.body().at("/trainerStatus/progressPercentage").asInt()).isEqualTo(5);

    Files.writeString(token, "rotated-token\n"); // the kubelet rotates projected tokens
    clock.advance(Duration.ofSeconds(5));
    sink.validation(new Validation(11, 5.75, 4, 0.2));
    sink.step(step(11, 20, 5.5, 27.4));
    Request second = next();
    assertThat(second.authorization()).isEqualTo("Bearer rotated-token");
    sink.close();
    Request last = next();
    JsonNode status = last.body().get("trainerStatus");
    assertThat(status.get("progressPercentage").asInt()).isEqualTo(55);
    assertThat(status.get("estimatedRemainingSeconds").asInt()).isEqualTo(27);
    assertThat(metrics(status))
        .containsEntry("loss", "5.5000")
        .containsEntry("val_loss", "5.7500")
        .containsEntry("step", "11")
        .containsEntry("max_steps", "20")
        .containsEntry("tokens_per_sec", "1234.5");
    assertThat(status.get("lastUpdatedTime").asString()).isEqualTo("2026-12-07T01:00:05Z");
    assertThat(server.received).isEmpty(); // steps 2..10 came within the interval: not sent
    assertThat(warnings).isEmpty();
    conformsToTheTrainJobSchema(last.body().get("trainerStatus"));
  }

  @Test
  void theLastStepReportsAHundredPercentAndNoTimeLeft() throws Exception {
    TrainerStatusSink sink = sink(Duration.ofSeconds(5), Duration.ofSeconds(10));
    sink.step(step(1, 3, 6.0, 2.0));
    sink.step(step(2, 3, 5.9, 1.0)); // within the interval: held back
    sink.step(step(3, 3, 5.8, 0.0)); // the last: sent at once
    sink.close(); // waits for what is on its way
    List<JsonNode> statuses = new ArrayList<>();
    server.received.forEach(r -> statuses.add(r.body().get("trainerStatus")));
    // step 1's report, unless step 3's replaced it before it left; then step 3's
    assertThat(statuses).hasSizeBetween(1, 2);
    assertThat(statuses.getLast().get("progressPercentage").asInt()).isEqualTo(100);
    assertThat(statuses.getLast().get("estimatedRemainingSeconds").asInt()).isZero();
    assertThat(metrics(statuses.getLast())).containsEntry("step", "3");
  }

  @Test
  void aRunStoppedEarlySendsTheStepTheIntervalHeldBack() throws Exception {
    TrainerStatusSink sink = sink(Duration.ofSeconds(5), Duration.ofSeconds(10));
    sink.step(step(1, 100, 6.0, Double.NaN)); // the first step's ETA is unknown
    assertThat(next().body().at("/trainerStatus/estimatedRemainingSeconds").isMissingNode())
        .isTrue();
    sink.step(step(2, 100, 5.9, 50.0));
    sink.close();
    assertThat(metrics(next().body().get("trainerStatus"))).containsEntry("step", "2");
  }

  @Test
  void aRefusingServerIsOneWarningAndReportsGoOn() throws Exception {
    server.answer.set(403);
    TrainerStatusSink sink = sink(Duration.ofSeconds(5), Duration.ofSeconds(10));
    for (long s = 1; s <= 3; s++) {
      sink.step(step(s, 10, 6.0, 9.0));
      next();
      clock.advance(Duration.ofSeconds(5));
    }
    server.answer.set(200);
    sink.step(step(4, 10, 5.0, 9.0));
    next();
    sink.close();
    assertThat(warnings).hasSize(2);
    assertThat(warnings.getFirst())
        .contains("progress report to the TrainJob failed (HTTP 403")
        .contains("token refused")
        .contains("training goes on")
        .doesNotContain("first-token");
    assertThat(warnings.get(1)).isEqualTo("progress reports reach the TrainJob again");
  }

  @Test
  void aServerThatHangsNeverHoldsUpTheSteps() throws Exception {
    server.hold = new CountDownLatch(1);
    TrainerStatusSink sink = sink(Duration.ZERO, Duration.ofMillis(500));
    assertTimeoutPreemptively(
        Duration.ofSeconds(5),
        () -> {
          for (long s = 1; s <= 200; s++) {
            sink.step(step(s, 1000, 6.0, 9.0));
          }
        });
    assertTimeoutPreemptively(Duration.ofSeconds(5), sink::close);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (warnings.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(String.join("\n", warnings)).containsAnyOf("timed out", "dropped");
  }

  @Test
  void aCertificateNotSignedByTheGivenCaIsRefused() throws Exception {
    ca = FakeTrainerStatusServer.certificate("other", dir.resolve("other.p12"));
    TrainerStatusSink sink = sink(Duration.ofSeconds(5), Duration.ofSeconds(10));
    sink.step(step(1, 10, 6.0, 9.0));
    sink.close();
    assertThat(server.received).isEmpty();
    assertThat(warnings).singleElement().asString().contains("SSLHandshakeException");
  }

  @Test
  void theEndpointComesFromTrainersVariablesOrNotAtAll() {
    assertThat(TrainerStatusSink.Endpoint.fromEnvironment(Map.of("PATH", "/bin"))).isEmpty();
    assertThat(
            TrainerStatusSink.Endpoint.fromEnvironment(
                Map.of(
                    "KUBEFLOW_TRAINER_SERVER_URL", "https://trainer.kubeflow:8082/x",
                    "KUBEFLOW_TRAINER_SERVER_CA_CERT", "/var/run/secrets/kubeflow/trainer/ca.crt",
                    "KUBEFLOW_TRAINER_SERVER_TOKEN", "/var/run/secrets/kubeflow/trainer/token")))
        .hasValueSatisfying(e ->
            assertThat(e.token()).isEqualTo(Path.of("/var/run/secrets/kubeflow/trainer/token")));
    assertThatThrownBy(() ->
            TrainerStatusSink.Endpoint.fromEnvironment(
                Map.of(
                    "KUBEFLOW_TRAINER_SERVER_URL", "https://trainer.kubeflow:8082/x",
                    "KUBEFLOW_TRAINER_SERVER_CA_CERT", "/ca.crt")))
        .hasMessageContaining("KUBEFLOW_TRAINER_SERVER_TOKEN is not");
    assertThatThrownBy(() ->
            new TrainerStatusSink.Endpoint(
                URI.create("http://trainer:8082/x"), Path.of("/ca"), Path.of("/t")))
        .hasMessageContaining("must be an https URL");
  }

  @Test
  void unusableVariablesAreAWarningAndTheRunReportsLocally() throws IOException {
    List<String> lines = new ArrayList<>();
    MetricsSink local =
        new MetricsSink() {
          @Override
          public void info(String line) {
            lines.add(line);
          }
        };
    assertThat(TrainerStatusSink.besides(local, Map.of())).isSameAs(local);
    assertThat(
            TrainerStatusSink.besides(local, Map.of("KUBEFLOW_TRAINER_SERVER_URL", "https://x/")))
        .isSameAs(local);
    assertThat(lines).singleElement().asString().startsWith("warning: KUBEFLOW_TRAINER_SERVER_URL");
  }

  // --- fixtures

  private TrainerStatusSink sink(Duration interval, Duration timeout) {
    return new TrainerStatusSink(
        new TrainerStatusSink.Endpoint(server.url(), ca, token),
        warnings::add,
        interval,
        timeout,
        clock);
  }

  private Request next() throws InterruptedException {
    Request r = server.next(20);
    assertThat(r).as("a report reached the server").isNotNull();
    return r;
  }

  private static StepMetrics step(long step, long max, double loss, double eta) {
    return new StepMetrics(
        step, max, loss, 3e-4, 1.2, 40.0, step * 8, 0.5, 0, 0, 16.0, 16.0, 1234.5, 0.42, eta);
  }

  private static Map<String, String> metrics(JsonNode status) {
    return new Request(null, null, JSON.createObjectNode().set("trainerStatus", status)).metrics();
  }

  /** The report's fields are those of the CRD's {@code status.trainerStatus}, in its bounds. */
  private static void conformsToTheTrainJobSchema(JsonNode status) throws IOException {
    Path crd =
        Path.of(System.getProperty("cria.shared", "../../shared"))
            .resolve("data/kubeflow-trainer/trainer.kubeflow.org_trainjobs.yaml");
    JsonNode schema =
        new YAMLMapper()
            .readTree(Files.readString(crd))
            .at(
                "/spec/versions/0/schema/openAPIV3Schema/properties/status/properties/trainerStatus");
    assertThat(schema.isMissingNode()).as("trainerStatus in " + crd).isFalse();
    conforms(status, schema, "trainerStatus");
  }

  private static void conforms(JsonNode value, JsonNode schema, String where) {
    switch (schema.get("type").asString()) {
      case "object" -> {
        assertThat(value.isObject()).as(where).isTrue();
        for (Iterator<String> it = value.propertyNames().iterator(); it.hasNext(); ) {
          String name = it.next();
          JsonNode field = schema.at("/properties/" + name);
          assertThat(field.isMissingNode()).as(where + "." + name + " is in the schema").isFalse();
          conforms(value.get(name), field, where + "." + name);
        }
        for (JsonNode required : schema.path("required")) {
          assertThat(value.has(required.asString())).as(where + " has " + required).isTrue();
        }
      }
      case "array" -> {
        assertThat(value.isArray()).as(where).isTrue();
        assertThat(value.size()).as(where).isLessThanOrEqualTo(schema.path("maxItems").asInt(256));
        for (JsonNode item : value) {
          conforms(item, schema.get("items"), where + "[]");
        }
      }
      case "integer" -> {
        assertThat(value.isInt()).as(where).isTrue();
        assertThat(value.asInt()).as(where).isGreaterThanOrEqualTo(schema.path("minimum").asInt(0));
        if (schema.has("maximum")) {
          assertThat(value.asInt()).as(where).isLessThanOrEqualTo(schema.get("maximum").asInt());
        }
      }
      case "string" -> {
        assertThat(value.isString()).as(where).isTrue();
        int length = value.asString().length();
        assertThat(length)
            .as(where)
            .isBetween(
                schema.path("minLength").asInt(0),
                schema.path("maxLength").asInt(Integer.MAX_VALUE));
        if ("date-time".equals(schema.path("format").asString())) {
          Instant.parse(value.asString());
        }
      }
      default -> throw new AssertionError(where + ": unexpected type " + schema.get("type"));
    }
  }

  /** A clock the test moves. */
  private static final class MutableClock extends Clock {
    private volatile Instant now = Instant.parse("2026-12-07T01:00:00Z");

    void advance(Duration d) {
      now = now.plus(d);
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public ZoneOffset getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }
}
