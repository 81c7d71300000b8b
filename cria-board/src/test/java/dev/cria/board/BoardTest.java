package dev.cria.board;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.core.run.RankState;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The board over HTTP: authentication on every route, read-only, runs merged as TensorBoard shows
 * them.
 */
class BoardTest {
  static final String PASSWORD = "correct horse battery";
  static final List<String> ROUTES =
      List.of(
          "/",
          "/static/app.js",
          "/static/app.css",
          "/static/uplot.min.js",
          "/static/uplot.min.css",
          "/api/runs",
          "/api/scalars?run=brown",
          "/api/scalars.csv?run=brown&tag=lr",
          "/api/ranks?run=brown",
          "/metrics");

  @TempDir Path tmp; // the log directory and, beside it, what the board must never serve
  Path logdir;
  Board board;
  final HttpClient http = HttpClient.newHttpClient();

  /**
   * A cria run (two ranks, status and logs) resumed once, and a NeMo-style run with only events.
   */
  static void writeRuns(Path logdir) throws IOException {
    Path brown = logdir.resolve("brown");
    Path first = brown.resolve("events.out.tfevents.1700000000.host");
    Path resumed = brown.resolve("events.out.tfevents.1700000100.host");
    for (int s = 1; s <= 10; s++) {
      Events.scalar(first, "reduced_train_loss", s, 10f - s);
      Events.scalar(first, "lr", s, 1e-3f);
    }
    for (int s = 6; s <= 12; s++) {
      Events.scalar(resumed, "reduced_train_loss", s, 100f + s); // the resumed run's values win
      Events.scalar(resumed, "lr", s, 1e-3f);
    }
    long now = System.currentTimeMillis();
    for (int r = 0; r < 2; r++) {
      StatusFiles.write(
          brown,
          new RankStatus(
              "brown",
              r,
              2,
              "host",
              100 + r,
              RankState.TRAINING,
              12,
              300,
              112,
              1e-3,
              4096,
              0.4,
              0.5,
              0.01,
              800_000_000L,
              500_000_000L,
              0.9,
              now - 60_000,
              now,
              0,
              null,
              null,
              null,
              null,
              5.0));
      Files.writeString(
          brown.resolve(r + "/log"), "[2026-01-01 10:00:00.000] step 12/300 rank " + r + "\n");
    }
    Events.scalar(
        logdir.resolve("nemo/version_0/events.out.tfevents.1700000200.node"), "train_loss", 1, 3f);
  }

  @BeforeEach
  void start() throws IOException {
    logdir = Files.createDirectories(tmp.resolve("logs"));
    writeRuns(logdir);
    board = Board.start(new Board.Options(logdir, "127.0.0.1", 0, "admin", PASSWORD, null, null));
  }

  @AfterEach
  void stop() {
    board.close();
  }

  HttpResponse<String> get(String path, String user, String password) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(board.url().resolve(path));
    if (user != null) {
      b.header(
          "Authorization",
          "Basic "
              + Base64.getEncoder()
                  .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8)));
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> get(String path) throws Exception {
    return get(path, "admin", PASSWORD);
  }

  @Test
  void everyRouteNeedsTheUserAndPassword() throws Exception {
    assertThat(board.url().getHost()).isEqualTo("127.0.0.1");
    for (String route : ROUTES) {
      assertThat(get(route, null, null).statusCode()).as("no credentials: " + route).isEqualTo(401);
      assertThat(get(route, "admin", "wrong").statusCode())
          .as("wrong password: " + route)
          .isEqualTo(401);
      assertThat(get(route, "root", PASSWORD).statusCode())
          .as("wrong user: " + route)
          .isEqualTo(401);
      assertThat(get(route).statusCode()).as("right: " + route).isEqualTo(200);
    }
    assertThat(get("/api/runs", null, null).headers().firstValue("WWW-Authenticate"))
        .hasValueSatisfying(v -> assertThat(v).startsWith("Basic realm=\"cria board\""));
    assertThat(get("/nowhere", null, null).statusCode())
        .isEqualTo(401); // even a 404 needs the password
  }

  @Test
  void aPathOutsideTheLogDirectoryIsRefused() throws Exception {
    // a file beside the log directory, with a text that no page of the board holds
    String secret = "a secret beside the log directory, 7f3c9e";
    Files.writeString(logdir.getParent().resolve("secret.txt"), secret);
    for (String path :
        List.of(
            "/api/scalars?run=..",
            "/api/scalars?run=../" + logdir.getFileName(),
            "/api/scalars?run=/etc",
            "/api/scalars?run=brown/../..",
            "/api/ranks?run=%2e%2e",
            "/api/scalars.csv?run=..&tag=lr",
            "/static/../../secret.txt",
            "/../secret.txt")) {
      HttpResponse<String> r = get(path);
      assertThat(r.statusCode()).as(path).isIn(400, 404);
      assertThat(r.body()).doesNotContain(secret);
    }
  }

  @Test
  void theBoardNeverWritesIntoTheLogDirectory() throws Exception {
    Map<String, String> before = snapshot(logdir);
    for (String route : ROUTES) {
      get(route);
    }
    get("/api/scalars?run=nemo/version_0&smoothing=0.9&max_points=5");
    assertThat(snapshot(logdir)).isEqualTo(before);
  }

  @Test
  void runsAreFoundAndAResumedRunShowsTheNewestValues() throws Exception {
    assertThat(get("/api/runs").body())
        .contains("\"name\":\"brown\"")
        .contains("\"state\":\"training\"")
        .contains("\"name\":\"nemo/version_0\"")
        .contains("\"state\":\"unknown\"");
    String csv = get("/api/scalars.csv?run=brown&tag=reduced_train_loss").body();
    List<String> lines = csv.lines().toList();
    assertThat(lines.getFirst()).isEqualTo("step,wall_time,value");
    assertThat(lines).hasSize(13); // steps 1..12 once each
    assertThat(lines.get(5)).startsWith("5,").endsWith(",5.0");
    assertThat(lines.get(6)).startsWith("6,").endsWith(",106.0");
    assertThat(lines.get(12)).startsWith("12,").endsWith(",112.0");
    String json = get("/api/scalars?run=brown&smoothing=0&max_points=3").body();
    assertThat(json).contains("\"points\":12").contains("\"steps\":[1,");
    assertThat(get("/api/ranks?run=brown").body())
        .contains("\"rank\":1")
        .contains("step 12/300 rank 1");
    assertThat(get("/api/scalars.csv?run=brown").statusCode()).isEqualTo(400); // which tag?
  }

  @Test
  void aLogWithBytesThatAreNotUtf8IsServedNotDropped() throws Exception {
    Path log = logdir.resolve("brown/1/log");
    byte[] before = Files.readAllBytes(log);
    try {
      Files.write(log, new byte[] {'c', 'a', 'f', (byte) 0xe9, '\n'}, StandardOpenOption.APPEND);
      HttpResponse<String> r = get("/api/ranks?run=brown");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).contains("caf\uFFFD");
    } finally {
      Files.write(log, before);
    }
  }

  @Test
  void prometheusGetsEveryRanksStepLossTokensMfuAndHeartbeat() throws Exception {
    String metrics = get("/metrics").body();
    assertThat(metrics)
        .contains("# TYPE cria_step gauge")
        .contains("cria_step{run=\"brown\",rank=\"0\"} 12.0")
        .contains("cria_loss{run=\"brown\",rank=\"1\"} 112.0")
        .contains("cria_tokens_per_second{run=\"brown\",rank=\"0\"} 4096.0")
        .contains("cria_mfu{run=\"brown\",rank=\"0\"} 0.4")
        .contains("cria_heartbeat_age_seconds{run=\"brown\"")
        .contains("cria_heartbeat_interval_seconds{run=\"brown\",rank=\"0\"} 5.0");
  }

  @Test
  void tensorBoardsOwnEventFileIsRead() throws Exception {
    Path vector =
        Path.of(System.getProperty("cria.shared", "../../shared"))
            .resolve("data/vectors/events.out.tfevents.1700000000.testhost");
    org.junit.jupiter.api.Assumptions.assumeTrue(
        Files.isRegularFile(vector),
        "skipped: " + vector + " is absent: TensorBoard's own event file is not checked");
    Files.createDirectories(logdir.resolve("external"));
    Files.copy(vector, logdir.resolve("external").resolve(vector.getFileName()));
    List<String> lines =
        get("/api/scalars.csv?run=external&tag=train_loss").body().lines().toList();
    assertThat(lines).hasSize(2);
    assertThat(lines.get(1)).startsWith("10,").endsWith(",2.5");
  }

  static Map<String, String> snapshot(Path dir) throws IOException {
    Map<String, String> out = new TreeMap<>();
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.toList()) {
        out.put(
            dir.relativize(p).toString(),
            Files.isDirectory(p)
                ? "dir"
                : Files.size(p) + "@" + Files.getLastModifiedTime(p).toMillis());
      }
    }
    return out;
  }
}
