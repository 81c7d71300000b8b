package dev.cria.board;

import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.cria.core.run.LogFollower;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.RunLogs;
import dev.cria.core.run.RunView;
import dev.cria.core.run.StatusFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.zip.GZIPOutputStream;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code cria board}: a read-only web dashboard over a log directory of runs, on the JDK's HTTP
 * server. Every request (pages, assets, the JSON API, the Prometheus metrics) needs HTTP Basic
 * authentication; it binds loopback unless told otherwise and serves TLS when given a keystore. It
 * reads event files, {@code status.json} and rank logs, and never writes into the directory.
 *
 * <p>Routes: {@code /} (the page), {@code /static/*} (its script, style and uPlot, from the jar),
 * {@code /api/runs}, {@code /api/scalars?run=R[&smoothing=0.6][&max_points=N]}, {@code
 * /api/scalars.csv?run=R&tag=T}, {@code /api/ranks?run=R[&lines=N]}, {@code /metrics}.
 */
public final class Board implements AutoCloseable {
  /**
   * How to serve.
   *
   * @param tlsKeystore a PKCS12 keystore for HTTPS, or null for plain HTTP
   * @param tlsPassword the keystore's password (null without TLS)
   */
  public record Options(
      Path logdir,
      String host,
      int port,
      String user,
      String password,
      Path tlsKeystore,
      char[] tlsPassword) {
    /**
     * @throws IllegalArgumentException for a port outside 0-65535, or a user name HTTP Basic cannot
     *     carry (empty, or holding a colon)
     */
    public Options {
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException(
            "--port " + port + ": a port is 0 to 65535 (0: any free one)");
      }
      if (user == null || user.isBlank() || user.contains(":")) {
        throw new IllegalArgumentException(
            "--user '" + user + "': a user name is not empty and has no ':' (HTTP Basic)");
      }
    }
  }

  private static final JsonMapper JSON = JsonMapper.builder().build();
  private static final String UPLOT = "/META-INF/resources/webjars/uplot/1.6.30/dist/";
  private static final Map<String, String[]> STATIC =
      Map.of(
          "/", new String[] {"/dev/cria/board/index.html", "text/html; charset=utf-8"},
          "/static/app.js",
              new String[] {"/dev/cria/board/app.js", "text/javascript; charset=utf-8"},
          "/static/app.css", new String[] {"/dev/cria/board/app.css", "text/css; charset=utf-8"},
          "/static/uplot.min.js",
              new String[] {UPLOT + "uPlot.iife.min.js", "text/javascript; charset=utf-8"},
          "/static/uplot.min.css",
              new String[] {UPLOT + "uPlot.min.css", "text/css; charset=utf-8"});

  private final HttpServer server;
  private final ExecutorService pool;
  private final RunIndex runs;
  private final RunScalars scalars = new RunScalars();
  private final Map<String, byte[]> assets = new HashMap<>();
  private final URI url;

  private Board(Options o) throws IOException {
    if (!Files.isDirectory(o.logdir())) {
      throw new IllegalArgumentException("--logdir " + o.logdir() + ": no such directory");
    }
    if (o.password() == null || o.password().isEmpty()) {
      throw new IllegalArgumentException("the board needs a password");
    }
    this.runs = new RunIndex(o.logdir());
    for (Map.Entry<String, String[]> e : STATIC.entrySet()) {
      try (InputStream in = Board.class.getResourceAsStream(e.getValue()[0])) {
        if (in == null) {
          throw new IllegalStateException("missing resource " + e.getValue()[0]);
        }
        assets.put(e.getKey(), in.readAllBytes());
      }
    }
    InetSocketAddress address = new InetSocketAddress(o.host(), o.port());
    if (address.isUnresolved()) {
      throw new IllegalArgumentException("--host " + o.host() + ": no such address");
    }
    SSLContext tls = o.tlsKeystore() == null ? null : tls(o.tlsKeystore(), o.tlsPassword());
    try {
      if (tls != null) {
        HttpsServer https = HttpsServer.create(address, 64);
        https.setHttpsConfigurator(new HttpsConfigurator(tls));
        server = https;
      } else {
        server = HttpServer.create(address, 64);
      }
    } catch (BindException e) {
      throw bindRefusal(o, e);
    }
    pool =
        Executors.newFixedThreadPool(
            8,
            r -> {
              Thread t = new Thread(r, "cria-board");
              t.setDaemon(true);
              return t;
            });
    server.setExecutor(pool);
    HttpContext context = server.createContext("/", this::handle);
    context.setAuthenticator(new PasswordCheck("cria board", o.user(), o.password()));
    server.start();
    String scheme = o.tlsKeystore() != null ? "https" : "http";
    String host = o.host().contains(":") ? "[" + o.host() + "]" : o.host();
    url = URI.create(scheme + "://" + host + ":" + server.getAddress().getPort() + "/");
  }

  /** Starts serving; {@code port} 0 picks a free port. */
  public static Board start(Options options) throws IOException {
    return new Board(options);
  }

  /** Where it serves, without credentials. */
  public URI url() {
    return url;
  }

  @Override
  public void close() {
    server.stop(0);
    pool.shutdownNow();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      answer(ex);
    }
  }

  /** Answers one request; a bad request is told so (400), and a failure to read a run too (500). */
  private void answer(HttpExchange ex) throws IOException {
    try {
      if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
        send(ex, 405, "text/plain; charset=utf-8", "only GET and HEAD\n");
        return;
      }
      String path = ex.getRequestURI().getPath();
      Map<String, String> q = query(ex.getRequestURI().getRawQuery());
      if (STATIC.containsKey(path)) {
        ex.getResponseHeaders()
            .set("Cache-Control", path.equals("/") ? "no-cache" : "max-age=3600");
        send(ex, 200, STATIC.get(path)[1], assets.get(path));
        return;
      }
      switch (path) {
        case "/api/runs" -> send(ex, 200, "application/json", runsJson());
        case "/api/scalars" -> {
          Optional<Path> dir = runs.directory(q.get("run"));
          if (dir.isEmpty()) {
            notFound(ex, q.get("run"));
            return;
          }
          double smoothing = number(q.get("smoothing"), 0.6);
          int maxPoints = (int) number(q.get("max_points"), 1000);
          send(
              ex,
              200,
              "application/json",
              scalarsJson(q.get("run"), dir.get(), smoothing, maxPoints));
        }
        case "/api/scalars.csv" -> {
          if (q.get("tag") == null) {
            throw new IllegalArgumentException("give tag=NAME (a tag of /api/scalars)");
          }
          Optional<Path> dir = runs.directory(q.get("run"));
          Series s = dir.isEmpty() ? null : scalars.of(dir.get()).get(q.get("tag"));
          if (s == null) {
            notFound(ex, q.get("run") + " " + q.get("tag"));
            return;
          }
          StringBuilder csv = new StringBuilder("step,wall_time,value\n");
          for (int i = 0; i < s.size(); i++) {
            csv.append(s.steps()[i])
                .append(',')
                .append(s.wallTimes()[i])
                .append(',')
                .append((float) s.values()[i])
                .append('\n');
          }
          ex.getResponseHeaders()
              .set(
                  "Content-Disposition",
                  "attachment; filename=\"" + q.get("tag").replaceAll("[^\\w.-]", "_") + ".csv\"");
          send(ex, 200, "text/csv; charset=utf-8", csv.toString());
        }
        case "/api/ranks" -> {
          Optional<Path> dir = runs.directory(q.get("run"));
          if (dir.isEmpty()) {
            notFound(ex, q.get("run"));
            return;
          }
          send(ex, 200, "application/json", ranksJson(dir.get(), (int) number(q.get("lines"), 20)));
        }
        case "/metrics" -> send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", prometheus());
        default -> send(ex, 404, "text/plain; charset=utf-8", "no such page: " + path + "\n");
      }
    } catch (IllegalArgumentException e) {
      send(ex, 400, "text/plain; charset=utf-8", e.getMessage() + "\n");
    } catch (IOException | RuntimeException e) {
      // a run's file the board could not read: the client hears why, the connection stays
      System.err.println("cria board: " + ex.getRequestURI() + ": " + e);
      send(
          ex,
          500,
          "text/plain; charset=utf-8",
          "cannot answer " + ex.getRequestURI() + ": " + e + "\n");
    }
  }

  private String runsJson() throws IOException {
    ArrayNode out = JSON.createArrayNode();
    for (Map.Entry<String, Path> run : runs.runs().entrySet()) {
      String name = run.getKey();
      Path dir = run.getValue();
      ObjectNode o = out.addObject();
      o.put("name", name);
      List<RankStatus> ranks = statuses(dir);
      RunView view = new RunView(ranks, System.currentTimeMillis(), 30);
      RankStatus lead = view.lead();
      o.put(
          "state",
          lead == null
              ? "unknown"
              : view.ended()
                  ? lead.state().label()
                  : ranks.stream().anyMatch(view::silent) ? "silent" : lead.state().label());
      o.put("step", lead == null ? null : view.step());
      o.put("max_steps", lead == null ? null : lead.maxSteps());
      o.put("ranks", ranks.size());
    }
    return out.toString();
  }

  private String scalarsJson(String name, Path dir, double smoothing, int maxPoints)
      throws IOException {
    ObjectNode o = JSON.createObjectNode();
    o.put("run", name);
    o.put("smoothing", smoothing);
    ObjectNode tags = o.putObject("tags");
    for (Series full : scalars.of(dir).values()) {
      Series shown = full.downsampled(Math.max(3, maxPoints));
      double[] smoothed = Smoothing.debiasedEma(full.values(), smoothing);
      ObjectNode t = tags.putObject(full.tag());
      t.put("points", full.size());
      ArrayNode steps = t.putArray("steps");
      ArrayNode wall = t.putArray("wall_times");
      ArrayNode values = t.putArray("values");
      ArrayNode smooth = t.putArray("smoothed");
      int j = 0;
      for (int i = 0; i < shown.size(); i++) {
        while (full.steps()[j] != shown.steps()[i]) {
          j++;
        }
        steps.add(shown.steps()[i]);
        wall.add(shown.wallTimes()[i]);
        single(values, shown.values()[i]);
        single(smooth, smoothed[j]);
      }
    }
    return o.toString();
  }

  private String ranksJson(Path dir, int lines) throws IOException {
    ObjectNode o = new RunView(statuses(dir), System.currentTimeMillis(), 30).toTree();
    ObjectNode logs = o.putObject("logs");
    for (int r : RunLogs.ranks(dir)) {
      ArrayNode a = logs.putArray(Integer.toString(r));
      LogFollower.lastLines(RunLogs.logFile(dir, r), Math.max(0, Math.min(lines, 1000)))
          .forEach(a::add);
    }
    return o.toString();
  }

  private String prometheus() throws IOException {
    StringBuilder sb = new StringBuilder();
    String[][] metrics = {
      {"cria_step", "optimizer steps completed"},
      {"cria_max_steps", "steps the run is configured for"},
      {"cria_loss", "the last step's training loss"},
      {"cria_tokens_per_second", "the job's tokens per second over 10 steps"},
      {"cria_mfu", "model FLOP/s over the measured peak"},
      {"cria_heartbeat_age_seconds", "seconds since the rank last updated its status"},
      {
        "cria_heartbeat_interval_seconds",
        "how often the rank updates its status at least; its peers call it silent after six"
      }
    };
    Map<String, StringBuilder> bodies = new HashMap<>();
    for (String[] m : metrics) {
      bodies.put(m[0], new StringBuilder());
    }
    long now = System.currentTimeMillis();
    for (Map.Entry<String, Path> run : runs.runs().entrySet()) {
      String name = run.getKey();
      for (RankStatus s : statuses(run.getValue())) {
        String labels =
            "{run=\""
                + name.replace("\\", "\\\\").replace("\"", "\\\"")
                + "\",rank=\""
                + s.rank()
                + "\"}";
        line(bodies.get("cria_step"), "cria_step" + labels, s.step());
        line(bodies.get("cria_max_steps"), "cria_max_steps" + labels, s.maxSteps());
        line(bodies.get("cria_loss"), "cria_loss" + labels, s.loss());
        line(
            bodies.get("cria_tokens_per_second"),
            "cria_tokens_per_second" + labels,
            s.tokensPerSec());
        line(bodies.get("cria_mfu"), "cria_mfu" + labels, s.mfu());
        line(
            bodies.get("cria_heartbeat_age_seconds"),
            "cria_heartbeat_age_seconds" + labels,
            s.ageSeconds(now));
        line(
            bodies.get("cria_heartbeat_interval_seconds"),
            "cria_heartbeat_interval_seconds" + labels,
            s.heartbeatSeconds());
      }
    }
    for (String[] m : metrics) {
      sb.append("# HELP ").append(m[0]).append(' ').append(m[1]).append('\n');
      sb.append("# TYPE ").append(m[0]).append(" gauge\n");
      sb.append(bodies.get(m[0]));
    }
    return sb.toString();
  }

  private static void line(StringBuilder sb, String labels, double v) {
    String value =
        Double.isNaN(v)
            ? "NaN"
            : Double.isInfinite(v)
                ? (v > 0 ? "+Inf" : "-Inf")
                : String.format(Locale.ROOT, "%s", v);
    sb.append(labels).append(' ').append(value).append('\n');
  }

  /** The run's ranks; a rank whose status file is damaged is left out, not the others. */
  private static List<RankStatus> statuses(Path dir) {
    try {
      return StatusFiles.readAll(dir, damaged -> {});
    } catch (IOException e) {
      return List.of(); // a plain TensorBoard run (NeMo's)
    }
  }

  /** A float's worth of digits: the event files hold floats, and the page need not read more. */
  private static void single(ArrayNode a, double v) {
    if (Double.isFinite(v)) {
      a.add((float) v);
    } else {
      a.addNull();
    }
  }

  private static void number(ArrayNode a, double v) {
    if (Double.isFinite(v)) {
      a.add(v);
    } else {
      a.addNull();
    }
  }

  private static double number(String text, double fallback) {
    if (text == null) {
      return fallback;
    }
    try {
      return Double.parseDouble(text);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a number: " + text);
    }
  }

  private static Map<String, String> query(String raw) {
    Map<String, String> q = new HashMap<>();
    if (raw == null) {
      return q;
    }
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      String k = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
      String v = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      q.put(k, v);
    }
    return q;
  }

  private static void notFound(HttpExchange ex, String what) throws IOException {
    send(
        ex,
        404,
        "text/plain; charset=utf-8",
        "no such run under the log directory: " + what + "\n");
  }

  private static void send(HttpExchange ex, int status, String type, String body)
      throws IOException {
    send(ex, status, type, body.getBytes(StandardCharsets.UTF_8));
  }

  private static void send(HttpExchange ex, int status, String type, byte[] body)
      throws IOException {
    ex.getResponseHeaders().set("Content-Type", type);
    ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
    String accepted = ex.getRequestHeaders().getFirst("Accept-Encoding");
    if (body.length > 1024 && accepted != null && accepted.contains("gzip")) {
      // the scalars of a long run are mostly digits: gzip takes them to a fraction
      ByteArrayOutputStream zipped = new ByteArrayOutputStream(body.length / 4);
      try (GZIPOutputStream gz = new GZIPOutputStream(zipped)) {
        gz.write(body);
      }
      body = zipped.toByteArray();
      ex.getResponseHeaders().set("Content-Encoding", "gzip");
      ex.getResponseHeaders().set("Vary", "Accept-Encoding");
    }
    boolean head = ex.getRequestMethod().equals("HEAD");
    ex.sendResponseHeaders(status, head ? -1 : body.length == 0 ? -1 : body.length);
    if (!head && body.length > 0) {
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    }
  }

  /**
   * Why the board cannot listen where {@code o} says, naming the flag to change: the port is taken,
   * or the address is not this machine's.
   */
  private static IllegalArgumentException bindRefusal(Options o, BindException e) {
    String where = (o.host().contains(":") ? "[" + o.host() + "]" : o.host()) + ":" + o.port();
    String why = String.valueOf(e.getMessage());
    if (why.toLowerCase(java.util.Locale.ROOT).contains("in use")) {
      return new IllegalArgumentException(where + " is in use (" + why + "); pick another --port");
    }
    return new IllegalArgumentException(
        "--host "
            + o.host()
            + ": cannot listen on "
            + where
            + " ("
            + why
            + "); give an address of this machine (127.0.0.1, the default, or 0.0.0.0 for all)");
  }

  private static SSLContext tls(Path keystore, char[] password) throws IOException {
    if (!Files.isRegularFile(keystore)) {
      throw new IllegalArgumentException("--tls-keystore " + keystore + ": no such file");
    }
    try (InputStream in = Files.newInputStream(keystore)) {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      try {
        ks.load(in, password);
      } catch (IOException e) {
        throw new IllegalArgumentException(
            keystore
                + (e.getCause() instanceof java.security.UnrecoverableKeyException
                    ? ": the keystore password does not open it"
                    : ": not a PKCS12 keystore, or cut short (" + e + ")"),
            e);
      }
      KeyManagerFactory kmf =
          KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(ks, password);
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(kmf.getKeyManagers(), null, null);
      return ctx;
    } catch (java.security.GeneralSecurityException e) {
      throw new IOException(keystore + ": cannot use it for TLS: " + e.getMessage(), e);
    }
  }
}
