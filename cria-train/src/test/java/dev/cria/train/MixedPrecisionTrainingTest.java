package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cria.engine.tensor.Floats;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.metrics.StepMetrics;
import dev.cria.train.metrics.TrainListener;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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

  private static final class Seen implements TrainListener {
    final Map<Long, Double> losses = new LinkedHashMap<>();
    final List<String> info = new ArrayList<>();
    final long crashAfter;
    float[] parameters;

    Seen(long crashAfter) {
      this.crashAfter = crashAfter;
    }

    @Override
    public void info(String line) {
      info.add(line);
    }

    @Override
    public void step(StepMetrics m) {
      losses.put(m.step(), m.loss());
      if (m.step() == crashAfter) {
        throw new IllegalStateException("simulated crash after step " + m.step());
      }
    }

    @Override
    public void validation(long step, double loss) {}

    @Override
    public void finished(Floats p) {
      parameters = p.toArray(0, (int) p.length());
    }
  }

  private TrainConfig config(String run, String precision) {
    ObjectNode t = TestRuns.tree(prefix, tmp.resolve(run));
    TrainConfigFile.set(t, "trainer.max_steps", 12L);
    TrainConfigFile.set(t, "trainer.limit_val_batches", 0);
    TrainConfigFile.set(t, "checkpoint.save_interval", 4L);
    TrainConfigFile.set(t, "trainer.precision", precision);
    return TestRuns.config(t);
  }

  private static Seen train(TrainConfig c, TrainStart start, long crashAfter) throws IOException {
    Seen seen = new Seen(crashAfter);
    try (TrainingSetup setup = TrainingSetup.prepare(c, 1, line -> {})) {
      RunDirectory run = RunDirectory.create(c, false, start.resume());
      new Trainer(setup, run, seen, () -> false).run(start);
    } catch (IllegalStateException e) {
      assertThat(e).hasMessageStartingWith("simulated crash");
    }
    return seen;
  }

  @Test
  void followsTheFp32RunWithinBf16RoundingAndSaysWhatItRuns() throws IOException {
    Seen fp32 = train(config("fp32", "32"), TrainStart.fresh(), -1);
    Seen mixed = train(config("mixed", "bf16"), TrainStart.fresh(), -1);
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
  }

  @Test
  void aCrashedMixedRunResumesToTheUninterruptedLossesBitForBit() throws IOException {
    Seen straight = train(config("straight", "bf16-mixed"), TrainStart.fresh(), -1);
    TrainConfig crashing = config("crashing", "bf16-mixed");
    Seen first = train(crashing, TrainStart.resumeIfPossible(), 7);
    assertThat(first.losses).hasSize(7);
    Seen resumed = train(crashing, TrainStart.resumeIfPossible(), -1);
    assertThat(resumed.losses.keySet()).containsExactly(5L, 6L, 7L, 8L, 9L, 10L, 11L, 12L);
    for (long s = 5; s <= 12; s++) {
      assertThat(resumed.losses.get(s)).as("step %d", s).isEqualTo(straight.losses.get(s));
    }
    assertThat(resumed.parameters).isEqualTo(straight.parameters);
  }

  @Test
  void theJavaProductGivesOneDnnsLossesToSummationOrder() throws IOException {
    Seen native_ = train(config("onednn", "bf16-mixed"), TrainStart.fresh(), -1);
    Seen java;
    System.setProperty("cria.onednn", "off");
    try {
      java = train(config("java", "bf16-mixed"), TrainStart.fresh(), -1);
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
}
