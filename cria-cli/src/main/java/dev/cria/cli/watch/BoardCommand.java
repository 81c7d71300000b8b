package dev.cria.cli.watch;

import dev.cria.board.Board;
import dev.cria.cli.UserError;
import dev.cria.core.secret.Secrets;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code cria board}: the blueprint's TensorBoard behind a password, for cria's and NeMo's runs.
 */
@Command(
    name = "board",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Serve a password-protected web dashboard of the runs under a log directory.",
      "",
      "Charts every scalar of the TensorBoard event files (cria's and NeMo's), with each run's ranks and"
          + " log tails, and Prometheus metrics at /metrics. Every request needs the user and password"
          + " (HTTP Basic); the password comes from --password-file or CRIA_BOARD_PASSWORD, else one is made"
          + " up and printed once. Listens on loopback unless --host says otherwise; --tls-keystore serves"
          + " HTTPS. Read-only: it never writes into the directory. Ctrl-C stops it.",
      ""
    })
public final class BoardCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--logdir",
      required = true,
      paramLabel = "DIR",
      description = "The runs to show.")
  Path logdir;

  @Option(
      names = "--host",
      paramLabel = "ADDRESS",
      defaultValue = "127.0.0.1",
      description = "Address to listen on (default: ${DEFAULT-VALUE}, this machine only).")
  String host;

  @Option(
      names = "--port",
      paramLabel = "PORT",
      defaultValue = "6006",
      description = "Port (default: ${DEFAULT-VALUE}, TensorBoard's).")
  int port;

  @Option(
      names = "--user",
      paramLabel = "NAME",
      defaultValue = "admin",
      description = "User name (default: ${DEFAULT-VALUE}).")
  String user;

  @Option(
      names = "--password-file",
      paramLabel = "FILE",
      description =
          "A file whose first line is the password (else CRIA_BOARD_PASSWORD, else made up).")
  Path passwordFile;

  @Option(
      names = "--tls-keystore",
      paramLabel = "FILE",
      description =
          "A PKCS12 keystore: serve HTTPS (its password from --tls-password-file or"
              + " CRIA_BOARD_TLS_PASSWORD).")
  Path tlsKeystore;

  @Option(
      names = "--tls-password-file",
      paramLabel = "FILE",
      description = "The keystore's password.")
  Path tlsPasswordFile;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    Secrets.Secret password;
    char[] tlsPassword = null;
    try {
      password = Secrets.read(passwordFile, "CRIA_BOARD_PASSWORD");
      if (tlsKeystore != null) {
        Secrets.Secret tls = Secrets.read(tlsPasswordFile, "CRIA_BOARD_TLS_PASSWORD");
        if (tls.generated()) {
          throw new UserError(
              "--tls-keystore "
                  + tlsKeystore
                  + " needs its password: --tls-password-file FILE or CRIA_BOARD_TLS_PASSWORD");
        }
        tlsPassword = tls.value().toCharArray();
      } else if (tlsPasswordFile != null) {
        throw new UserError(
            "--tls-password-file is the password of a keystore: give --tls-keystore too"
                + " (without it the board serves plain HTTP)");
      }
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    Board board;
    try {
      board =
          Board.start(
              new Board.Options(
                  logdir, host, port, user, password.value(), tlsKeystore, tlsPassword));
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage()); // a port in use among them
    }
    String url = board.url().toString();
    if (password.generated()) {
      // printed once, as the blueprint's deploy script prints its TensorBoard URL
      out.println(
          "cria board: "
              + url.replace("://", "://" + user + ":" + password.value() + "@")
              + "  (password made up for this run; set CRIA_BOARD_PASSWORD or --password-file to choose one)");
    } else {
      out.println(
          "cria board: "
              + url
              + "  (user "
              + user
              + ", password from "
              + (passwordFile != null ? passwordFile : "CRIA_BOARD_PASSWORD")
              + ")");
    }
    out.println("serving " + logdir.toAbsolutePath().normalize() + "; Ctrl-C stops");
    out.flush();
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  board.close();
                  stopped.countDown();
                },
                "cria-board-stop"));
    stopped.await();
    return 0;
  }
}
