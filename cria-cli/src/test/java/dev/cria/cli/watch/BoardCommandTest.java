package dev.cria.cli.watch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.cli.train.SmallCorpus;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cria board} itself, as a user starts it: the password from a file, from {@code
 * CRIA_BOARD_PASSWORD}, or made up and printed once; loopback unless told otherwise; every request
 * needs the password; a bad password file is refused naming it.
 */
class BoardCommandTest {
  @TempDir Path tmp;
  private final HttpClient http = HttpClient.newHttpClient();

  /** A running board and the first line it printed. */
  private record Started(Process process, String line, URI url) implements AutoCloseable {
    @Override
    public void close() throws InterruptedException {
      process.destroy(); // SIGTERM: Ctrl-C's way out
      assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
    }
  }

  private Started start(Map<String, String> env, String... args) throws IOException {
    Files.createDirectories(tmp.resolve("logs"));
    List<String> command = SmallCorpus.criaJvm();
    command.addAll(List.of("board", "--logdir", tmp.resolve("logs").toString(), "--port", "0"));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().remove("CRIA_BOARD_PASSWORD");
    pb.environment().putAll(env);
    Process p = pb.start();
    BufferedReader out =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    for (String line; (line = out.readLine()) != null; ) {
      Matcher m = Pattern.compile("^cria board: (\\S+)").matcher(line);
      if (m.find()) {
        Thread.ofPlatform().daemon().start(() -> drain(out));
        return new Started(p, line, URI.create(m.group(1)));
      }
    }
    throw new AssertionError("cria board printed no URL; exit " + p.onExit().join().exitValue());
  }

  private static void drain(BufferedReader out) {
    try {
      while (out.readLine() != null) {
        // the board's later lines
      }
    } catch (IOException e) {
      // it ended
    }
  }

  private int status(URI url, String user, String password) throws Exception {
    URI plain =
        new URI(url.getScheme(), null, url.getHost(), url.getPort(), "/api/runs", null, null);
    HttpRequest.Builder b = HttpRequest.newBuilder(plain);
    if (user != null) {
      b.header(
          "Authorization",
          "Basic "
              + Base64.getEncoder()
                  .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8)));
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
  }

  @Test
  void aPasswordFileOpensItNeverPrintedAndTheBoardListensOnLoopback() throws Exception {
    Path file = tmp.resolve("board-password");
    Files.writeString(file, "a-password-from-a-file\n");
    try (Started board = start(Map.of(), "--password-file", file.toString())) {
      assertThat(board.url().getHost()).isEqualTo("127.0.0.1");
      assertThat(board.line())
          .contains("(user admin, password from " + file + ")")
          .doesNotContain("a-password-from-a-file");
      assertThat(status(board.url(), "admin", "a-password-from-a-file")).isEqualTo(200);
      assertThat(status(board.url(), "admin", "wrong")).isEqualTo(401);
      assertThat(status(board.url(), null, null)).isEqualTo(401);
    }
  }

  @Test
  void thePasswordFromTheEnvironmentOpensItNeverPrinted() throws Exception {
    try (Started board =
        start(Map.of("CRIA_BOARD_PASSWORD", "from-the-environment"), "--user", "ops")) {
      assertThat(board.line())
          .contains("(user ops, password from CRIA_BOARD_PASSWORD)")
          .doesNotContain("from-the-environment");
      assertThat(status(board.url(), "ops", "from-the-environment")).isEqualTo(200);
      assertThat(status(board.url(), "admin", "from-the-environment")).isEqualTo(401);
    }
  }

  @Test
  void withoutOneAPasswordIsMadeUpPrintedOnceAndOpensIt() throws Exception {
    try (Started board = start(Map.of())) {
      Matcher m =
          Pattern.compile("^cria board: http://admin:([A-Za-z2-9]{20})@127\\.0\\.0\\.1:\\d+/")
              .matcher(board.line());
      assertThat(m.find()).as(board.line()).isTrue();
      assertThat(board.line()).contains("password made up for this run");
      assertThat(status(board.url(), "admin", m.group(1))).isEqualTo(200);
      assertThat(status(board.url(), "admin", m.group(1) + "x")).isEqualTo(401);
    }
  }

  @Test
  void anEmptyPasswordFileIsRefusedNamingIt() throws IOException {
    Path file = tmp.resolve("empty-password");
    Files.writeString(file, "\n");
    Files.createDirectories(tmp.resolve("logs"));
    CliRun run =
        CliRun.of(
            "board",
            "--logdir",
            tmp.resolve("logs").toString(),
            "--password-file",
            file.toString());
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).contains(file + ": the secret file is empty");
  }

  @Test
  void flagsItCannotServeWithAreRefusedNamingTheFlag() throws Exception {
    Files.createDirectories(tmp.resolve("logs"));
    Path password = tmp.resolve("pw");
    Files.writeString(password, "board-pw\n");
    assertThat(refusal("--port", "70000")).contains("--port 70000: a port is 0 to 65535");
    assertThat(refusal("--user", "")).contains("--user '': a user name is not empty");
    assertThat(refusal("--user", "a:b")).contains("--user 'a:b'").contains("no ':'");
    assertThat(refusal("--tls-password-file", password.toString()))
        .contains("--tls-password-file is the password of a keystore: give --tls-keystore too");
    assertThat(refusal("--tls-keystore", tmp.resolve("board.p12").toString()))
        .contains("needs its password: --tls-password-file FILE or CRIA_BOARD_TLS_PASSWORD");
    // 192.0.2.1 (TEST-NET-1) is no machine's address: binding it fails without any traffic
    assertThat(refusal("--host", "192.0.2.1"))
        .contains("--host 192.0.2.1: cannot listen on 192.0.2.1:0")
        .contains("give an address of this machine")
        .doesNotContain("in use");
    try (java.net.ServerSocket taken =
        new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      assertThat(refusal("--port", Integer.toString(taken.getLocalPort())))
          .contains("127.0.0.1:" + taken.getLocalPort() + " is in use")
          .contains("pick another --port");
    }
  }

  /** What {@code cria board} says when it refuses {@code args} (it must not start serving). */
  private String refusal(String... args) {
    List<String> command =
        new java.util.ArrayList<>(
            List.of("board", "--logdir", tmp.resolve("logs").toString(), "--port", "0"));
    command.addAll(List.of(args));
    CliRun run =
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
            java.time.Duration.ofSeconds(60),
            () -> CliRun.of(command.toArray(String[]::new)),
            "cria board started serving with " + List.of(args));
    assertThat(run.exitCode()).as(run.err()).isNotZero();
    assertThat(run.err()).doesNotContain("Exception");
    return run.err();
  }
}
