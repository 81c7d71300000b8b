package dev.cria.cli.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import dev.cria.cli.Main;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code cria prepare} process killed with SIGTERM mid-run leaves no output pair and no temporary
 * files, and an existing dataset at the same prefix stays as it was.
 */
class PrepareInterruptTest {
  @TempDir Path tmp;

  @Test
  void sigtermLeavesNoHalfWrittenDataset() throws Exception {
    Path tokenizer = CliRun.trainedTokenizer(tmp.resolve("tok"), 600);

    Path small = tmp.resolve("small.jsonl");
    Files.write(small, List.of("{\"text\": \"an existing dataset\"}"));
    Path prefix = tmp.resolve("out/data");
    assertThat(
            CliRun.of(
                    "prepare",
                    "--input",
                    small.toString(),
                    "--tokenizer",
                    tokenizer.toString(),
                    "--output-prefix",
                    prefix.toString())
                .exitCode())
        .isZero();
    byte[] bin = Files.readAllBytes(tmp.resolve("out/data_text_document.bin"));
    byte[] idx = Files.readAllBytes(tmp.resolve("out/data_text_document.idx"));

    // Big enough to take several seconds: unique words defeat the word cache.
    Path big = tmp.resolve("big.jsonl");
    try (BufferedWriter w = Files.newBufferedWriter(big, StandardCharsets.UTF_8)) {
      StringBuilder doc = new StringBuilder();
      for (int d = 0; d < 80_000; d++) {
        doc.setLength(0);
        for (int k = 0; k < 60; k++) {
          doc.append(' ')
              .append(Integer.toString(d * 61 + k, 36))
              .append("qzx")
              .append(k % 7 == 0 ? "tion" : "ing");
        }
        w.write("{\"text\": \"" + doc + "\"}\n");
      }
    }
    String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p =
        new ProcessBuilder(
                javaBin,
                "-cp",
                System.getProperty("java.class.path"),
                Main.class.getName(),
                "prepare",
                "--input",
                big.toString(),
                "--tokenizer",
                tokenizer.toString(),
                "--workers",
                "1",
                "--output-prefix",
                prefix.toString(),
                "--overwrite")
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("prepare.log").toFile())
            .start();
    // Wait until it is writing (temporary files exist), then stop it.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (temporaryFiles(tmp.resolve("out")).isEmpty()
        && p.isAlive()
        && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    // The temporary files appear when writing starts; the run then takes seconds, so stop it now.
    p.destroy(); // SIGTERM
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue())
        .as(
            "prepare was stopped mid-run (143 = SIGTERM); log: %s",
            Files.readString(tmp.resolve("prepare.log")))
        .isEqualTo(143);

    assertThat(temporaryFiles(tmp.resolve("out"))).isEmpty();
    assertThat(Files.readAllBytes(tmp.resolve("out/data_text_document.bin"))).isEqualTo(bin);
    assertThat(Files.readAllBytes(tmp.resolve("out/data_text_document.idx"))).isEqualTo(idx);
  }

  private static List<Path> temporaryFiles(Path dir) throws Exception {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(f -> f.getFileName().toString().contains(".tmp-")).toList();
    }
  }
}
