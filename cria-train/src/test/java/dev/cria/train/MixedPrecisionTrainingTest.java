package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import dev.cria.engine.io.SafetensorsFile;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.node.ObjectNode;

/**
 * Training in {@code bf16-mixed}: it follows the fp32 run within bf16's rounding, resumes bit for
 * bit, and the Java product (oneDNN switched off) gives oneDNN's losses to fp32 summation order.
 */
class MixedPrecisionTrainingTest {
  @TempDir Path tmp;
  private Path prefix;

  @BeforeEach
  void data() throws IOException {
    prefix = TestRuns.dataset(tmp, 200, 199);
  }

  private TrainConfig config(String run, String precision) {
    ObjectNode t = TestRuns.tree(prefix, tmp.resolve(run));
    TrainConfigFile.set(t, "trainer.max_steps", 12L);
    TrainConfigFile.set(t, "trainer.limit_val_batches", 0);
    TrainConfigFile.set(t, "checkpoint.save_interval", 4L);
    TrainConfigFile.set(t, "trainer.precision", precision);
    return TestRuns.config(t);
  }

  @Test
  void followsTheFp32RunWithinBf16RoundingAndSaysWhatItRuns() throws IOException {
    SeenRun fp32 = SeenRun.train(config("fp32", "32"), TrainStart.fresh(), s -> false);
    SeenRun mixed = SeenRun.train(config("mixed", "bf16"), TrainStart.fresh(), s -> false);
    assertThat(mixed.losses).hasSize(12);
    assertThat(mixed.losses.get(12L)).isLessThan(mixed.losses.get(1L) - 0.5);
    boolean differs = false;
    for (long s = 1; s <= 12; s++) {
      double a = fp32.losses.get(s);
      double b = mixed.losses.get(s);
      assertThat(b).as("step %d", s).isCloseTo(a, within(0.02 * a));
      differs |= a != b;
    }
    assertThat(differs).as("bf16 products round: some loss must differ from fp32's").isTrue();
    assertThat(mixed.info)
        .anyMatch(l -> l.startsWith("precision bf16-mixed: linear layers multiply bf16 on "));
    assertThat(fp32.info).noneMatch(l -> l.startsWith("precision bf16-mixed"));
    RankStatus mixedStatus = StatusFiles.read(StatusFiles.file(tmp.resolve("mixed"), 0));
    assertThat(mixedStatus.precision()).isEqualTo("bf16-mixed");
    assertThat(mixedStatus.matmul()).matches("oneDNN 3\\..*|java .*");
    RankStatus fp32Status = StatusFiles.read(StatusFiles.file(tmp.resolve("fp32"), 0));
    assertThat(fp32Status.precision()).isEqualTo("32");
    assertThat(fp32Status.matmul()).startsWith("cpu(");
  }

  @Test
  void aCrashedMixedRunResumesToTheUninterruptedLossesBitForBit() throws IOException {
    SeenRun straight =
        SeenRun.train(config("straight", "bf16-mixed"), TrainStart.fresh(), s -> false);
    TrainConfig crashing = config("crashing", "bf16-mixed");
    SeenRun first = SeenRun.train(crashing, TrainStart.resumeIfPossible(), s -> s == 7);
    assertThat(first.losses).hasSize(7);
    SeenRun resumed = SeenRun.train(crashing, TrainStart.resumeIfPossible(), s -> false);
    assertThat(resumed.losses.keySet()).containsExactly(5L, 6L, 7L, 8L, 9L, 10L, 11L, 12L);
    for (long s = 5; s <= 12; s++) {
      assertThat(resumed.losses.get(s)).as("step %d", s).isEqualTo(straight.losses.get(s));
    }
    assertThat(resumed.parameters).isEqualTo(straight.parameters);
  }

  @Test
  void theJavaProductGivesOneDnnsLossesToSummationOrder() throws IOException {
    SeenRun native_ = SeenRun.train(config("onednn", "bf16-mixed"), TrainStart.fresh(), s -> false);
    if (native_.info.stream().noneMatch(l -> l.contains("multiply bf16 on oneDNN 3."))) {
      // a CPU without oneDNN's bf16 kernels (AVX2 alone): the run fell back, saying why
      assertThat(native_.info)
          .anyMatch(l ->
              l.contains("multiply bf16 on java (")
                  && l.contains("oneDNN has no bf16 matmul for this CPU"));
      assumeTrue(false, "skipped: oneDNN has no bf16 kernels on this CPU: nothing to compare");
    }
    SeenRun java;
    System.setProperty("cria.onednn", "off");
    try {
      java = SeenRun.train(config("java", "bf16-mixed"), TrainStart.fresh(), s -> false);
    } finally {
      System.clearProperty("cria.onednn");
    }
    assertThat(java.info)
        .anyMatch(l -> l.contains("multiply bf16 on java (") && l.contains("-Dcria.onednn=off"));
    assertThat(native_.info).anyMatch(l -> l.contains("multiply bf16 on oneDNN 3."));
    for (long s = 1; s <= 12; s++) {
      double a = native_.losses.get(s);
      assertThat(java.losses.get(s)).as("step %d", s).isCloseTo(a, within(2e-3 * a));
    }
  }

  /**
   * {@code bf16-sr}, the blueprint's {@code bf16SR}: every weight a bf16 value after every step (no
   * fp32 master copy), the run learning as the fp32 run does within bf16 storage's rounding, and a
   * crashed run resuming to the uninterrupted one's losses and weights bit for bit (the rounding's
   * draws come from the seed and the step).
   */
  @Test
  void bf16SrKeepsBf16WeightsLearnsAndResumesBitForBit() throws IOException {
    SeenRun fp32 = SeenRun.train(config("fp32", "32"), TrainStart.fresh(), s -> false);
    SeenRun straight = SeenRun.train(config("sr", "bf16-sr"), TrainStart.fresh(), s -> false);
    assertThat(straight.losses.get(12L)).isLessThan(straight.losses.get(1L) - 0.5);
    for (long s = 1; s <= 12; s++) {
      double a = fp32.losses.get(s);
      assertThat(straight.losses.get(s)).as("step %d", s).isCloseTo(a, within(0.05 * a));
    }
    int notBf16 = 0;
    for (float p : straight.parameters) {
      notBf16 += (Float.floatToRawIntBits(p) & 0xffff) != 0 ? 1 : 0;
    }
    assertThat(notBf16).as("weights that are not bf16 values").isZero();
    assertThat(straight.info)
        .anyMatch(l -> l.startsWith("precision bf16-sr: linear layers multiply bf16 on "));
    assertThat(StatusFiles.read(StatusFiles.file(tmp.resolve("sr"), 0)).precision())
        .isEqualTo("bf16-sr");
    // the moments are stored in bf16, in memory (MemoryPlanTest checks the bytes) and in the
    // checkpoints' optimizer shards
    assertThat(straight.info)
        .anyMatch(l ->
            l.startsWith("memory per rank:") && l.matches(".* AdamW state \\d+ MB \\(bf16\\),.*"));
    try (java.util.stream.Stream<java.nio.file.Path> files =
        java.nio.file.Files.walk(tmp.resolve("sr"))) {
      List<java.nio.file.Path> shards =
          files
              .filter(f -> f.getParent().getFileName().toString().equals("optimizer"))
              .filter(f -> f.toString().endsWith(".safetensors"))
              .toList();
      assertThat(shards).isNotEmpty();
      for (java.nio.file.Path shard : shards) {
        try (SafetensorsFile file = SafetensorsFile.open(shard)) {
          assertThat(file.entries().values()).allMatch(e -> e.dtype().equals("BF16"));
        }
      }
    }

    TrainConfig crashing = config("crashing", "bf16-sr");
    SeenRun first = SeenRun.train(crashing, TrainStart.resumeIfPossible(), s -> s == 7);
    assertThat(first.losses).hasSize(7);
    SeenRun resumed = SeenRun.train(crashing, TrainStart.resumeIfPossible(), s -> false);
    for (long s = 5; s <= 12; s++) {
      assertThat(resumed.losses.get(s)).as("step %d", s).isEqualTo(straight.losses.get(s));
    }
    assertThat(resumed.parameters).isEqualTo(straight.parameters);
  }
}
