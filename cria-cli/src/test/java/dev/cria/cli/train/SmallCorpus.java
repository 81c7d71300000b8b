package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.cli.Main;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The bundled corpus prepared for training tests, by cria itself: a 600-piece tokenizer and the
 * dataset it makes; with the flags of a model small enough to train in milliseconds a step, and
 * what the tests need to start cria in a JVM of its own and read its result.
 */
public record SmallCorpus(Path tokenizer, Path prefix) {
  public static SmallCorpus prepareIn(Path dir) {
    Path tokenizer = CliRun.trainedTokenizer(dir.resolve("tok"), 600);
    CliRun prepared =
        CliRun.of(
            "prepare",
            "--input",
            CliRun.sampleCorpus().toString(),
            "--tokenizer",
            tokenizer.toString(),
            "--append-eod",
            "--output-prefix",
            dir.resolve("brown").toString());
    assertThat(prepared.exitCode()).as(prepared.err()).isZero();
    return new SmallCorpus(tokenizer, dir.resolve("brown_text_document"));
  }

  /**
   * {@code COMMAND} ({@code train} or {@code worker}) on this corpus with a d=32, 2-layer model and
   * sequences of 32, writing to {@code runDir}; then {@code more}, which may override any of these.
   */
  public List<String> args(String command, Path runDir, String... more) {
    List<String> args =
        new ArrayList<>(
            List.of(
                command,
                "--tokenizer",
                tokenizer.toString(),
                "--data-prefix",
                prefix.toString(),
                "--hidden-size",
                "32",
                "--layers",
                "2",
                "--heads",
                "2",
                "--max-seq-len",
                "32",
                "--seq-len",
                "32",
                "--micro-batch",
                "2",
                "--split",
                "98,2,0",
                "--lr",
                "1e-2",
                "--warmup-steps",
                "2",
                "--run-dir",
                runDir.toString()));
    args.addAll(List.of(more));
    return args;
  }

  /** The command line that runs cria's {@code Main} in a new JVM with this test's class path. */
  public static List<String> criaJvm() {
    return new ArrayList<>(
        List.of(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "--add-modules",
            "jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED",
            "-cp",
            System.getProperty("java.class.path"),
            Main.class.getName()));
  }

  /** The final training loss that {@code cria train} reports on its last line. */
  public static double finalLoss(String out) {
    return Double.parseDouble(done(out).group(1));
  }

  /** The final validation loss that {@code cria train} reports on its last line. */
  public static double finalValLoss(String out) {
    return Double.parseDouble(done(out).group(2));
  }

  private static Matcher done(String out) {
    Matcher m =
        Pattern.compile("done: \\d+ step\\(s\\) in \\S+: loss ([\\d.]+)(?:, val_loss ([\\d.]+))?")
            .matcher(out);
    assertThat(m.find()).as(out).isTrue();
    return m;
  }
}
