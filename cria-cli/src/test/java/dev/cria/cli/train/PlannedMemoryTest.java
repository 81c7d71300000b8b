package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.SelfCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The memory plan against what a real {@code cria train} holds, in a JVM of its own started as
 * cria's launchers start it ({@code -XX:+UseSerialGC -Xmn64m}): the presets' own 32,000-token
 * vocabulary on the bundled corpus, whose ids are all below it.
 */
class PlannedMemoryTest {
  @TempDir static Path tmp;
  static SmallCorpus corpus;

  private static final Pattern MEASURED =
      Pattern.compile(
          "memory: off-heap tensors (\\S+ [MG]B) \\(planned (\\S+ [MG]B)\\), held after a step at"
              + " most (\\S+ [MG]B) \\(planned (\\S+ [MG]B)\\)");

  @BeforeAll
  static void prepare() {
    corpus = SmallCorpus.prepareIn(tmp);
  }

  private static double bytes(String size) {
    String[] p = size.split(" ");
    return Double.parseDouble(p[0]) * (p[1].equals("GB") ? 1e9 : 1e6);
  }

  @ParameterizedTest(name = "{0}, sequences of {1}")
  @CsvSource({"tiny, 128", "small, 256"})
  void whatARankHoldsIsWithinTenPercentOfThePlan(String preset, int seq) throws Exception {
    Path run = tmp.resolve("run-" + preset);
    List<String> command =
        new ArrayList<>(
            SelfCommand.with(
                List.of(
                    "train",
                    "--preset",
                    preset,
                    "--data-prefix",
                    corpus.prefix().toString(),
                    "--seq-len",
                    Integer.toString(seq),
                    "--micro-batch",
                    "2",
                    "--global-batch",
                    "4",
                    "--max-steps",
                    "4",
                    "--val-batches",
                    "0",
                    "--threads",
                    "2",
                    "--save-interval-minutes",
                    "0",
                    "--run-dir",
                    run.toString())));
    command.addAll( // as cria's launchers run it
        command.indexOf("-cp"), List.of("-XX:+UseSerialGC", "-Xmn64m"));
    Path output = tmp.resolve(preset + ".out");
    Process p =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(output.toFile())
            .start();
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(Files.readString(output)).isZero();
    String log = Files.readString(run.resolve("0/log"));
    Matcher m = MEASURED.matcher(log);
    assertThat(m.find()).as(log).isTrue();
    assertThat(m.group(1)).as("off-heap tensors, as planned").isEqualTo(m.group(2));
    double held = bytes(m.group(3));
    double planned = bytes(m.group(4));
    assertThat(Math.abs(held - planned) / planned)
        .as("held %s, planned %s", m.group(3), m.group(4))
        .isLessThan(0.10);
  }
}
