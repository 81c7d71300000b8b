package dev.cria.board;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With --tls-keystore the board speaks HTTPS (a keystore made by the JDK's keytool), still behind
 * the password.
 */
class BoardTlsTest {
  @TempDir Path dir;

  @Test
  void servesHttpsWithTheKeystoreAndStillAsksForThePassword() throws Exception {
    Path keystore = keystore();
    Path logdir = dir.resolve("runs");
    BoardTest.writeRuns(logdir);
    try (Board board =
        Board.start(
            new Board.Options(
                logdir, "127.0.0.1", 0, "admin", "tls-pw", keystore, "changeit".toCharArray()))) {
      assertThat(board.url().getScheme()).isEqualTo("https");
      SSLContext trustAll = SSLContext.getInstance("TLS");
      trustAll.init(
          null,
          new TrustManager[] {
            new X509TrustManager() {
              @Override
              public void checkClientTrusted(X509Certificate[] chain, String authType) {}

              @Override
              public void checkServerTrusted(X509Certificate[] chain, String authType) {}

              @Override
              public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
              }
            }
          },
          null);
      HttpClient https = HttpClient.newBuilder().sslContext(trustAll).build();
      HttpRequest.Builder req = HttpRequest.newBuilder(board.url().resolve("/api/runs"));
      assertThat(https.send(req.build(), HttpResponse.BodyHandlers.ofString()).statusCode())
          .isEqualTo(401);
      HttpResponse<String> ok =
          https.send(
              req.header(
                      "Authorization",
                      "Basic "
                          + Base64.getEncoder()
                              .encodeToString("admin:tls-pw".getBytes(StandardCharsets.UTF_8)))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(ok.statusCode()).isEqualTo(200);
      assertThat(ok.body()).contains("\"name\":\"brown\"");
    }
  }

  /** A PKCS12 keystore made by the JDK's keytool, its password {@code changeit}. */
  private Path keystore() throws Exception {
    Path keystore = dir.resolve("board.p12");
    Process keytool =
        new ProcessBuilder(
                List.of(
                    Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                    "-genkeypair",
                    "-keystore",
                    keystore.toString(),
                    "-storetype",
                    "PKCS12",
                    "-storepass",
                    "changeit",
                    "-keypass",
                    "changeit",
                    "-alias",
                    "board",
                    "-keyalg",
                    "EC",
                    "-dname",
                    "CN=localhost",
                    "-validity",
                    "2",
                    "-ext",
                    "SAN=ip:127.0.0.1,dns:localhost"))
            .redirectErrorStream(true)
            .start();
    assertThat(keytool.waitFor()).as(new String(keytool.getInputStream().readAllBytes())).isZero();
    return keystore;
  }

  @Test
  void aKeystoreItCannotOpenIsRefusedSayingWhyNotInJavasWords() throws Exception {
    Path keystore = keystore();
    Path logdir = dir.resolve("runs");
    BoardTest.writeRuns(logdir);
    Path junk = dir.resolve("junk.p12");
    java.nio.file.Files.writeString(junk, "not a keystore\n");
    Path cut = dir.resolve("cut.p12");
    byte[] whole = java.nio.file.Files.readAllBytes(keystore);
    java.nio.file.Files.write(cut, java.util.Arrays.copyOf(whole, whole.length / 2));
    assertThat(refusal(logdir, keystore, "wrong"))
        .isEqualTo(keystore + ": the keystore password does not open it");
    assertThat(refusal(logdir, junk, "changeit"))
        .startsWith(junk + ": not a PKCS12 keystore, or cut short");
    assertThat(refusal(logdir, cut, "changeit"))
        .startsWith(cut + ": not a PKCS12 keystore, or cut short");
    assertThat(refusal(logdir, dir.resolve("absent.p12"), "changeit"))
        .isEqualTo("--tls-keystore " + dir.resolve("absent.p12") + ": no such file");
  }

  private static String refusal(Path logdir, Path keystore, String password) {
    try (Board board =
        Board.start(
            new Board.Options(
                logdir, "127.0.0.1", 0, "admin", "pw", keystore, password.toCharArray()))) {
      throw new AssertionError("the board started with " + keystore + " at " + board.url());
    } catch (IllegalArgumentException e) {
      return e.getMessage();
    } catch (java.io.IOException e) {
      throw new AssertionError("refused in Java's words: " + e, e);
    }
  }
}
