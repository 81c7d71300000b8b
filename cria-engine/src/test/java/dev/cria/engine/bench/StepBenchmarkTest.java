package dev.cria.engine.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cria.engine.backend.TimedKernels;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.Precision;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class StepBenchmarkTest {
  @Test
  void timesStepsAndRelatesThemToThePeak() {
    LlamaConfig c = new LlamaConfig(64, 2, 4, 2, 128, 512, 1e-5f, 10000f, 32);
    List<String> log = new ArrayList<>();
    StepBenchmark.Result r =
        StepBenchmark.run(
            new StepBenchmark.Settings(c, "cpu", 2, 2, 32, 1, 2, true, Precision.FP32), log::add);
    assertThat(r.tokensPerSec()).isPositive().isFinite();
    assertThat(r.stepMs())
        .isCloseTo(
            r.forwardMs() + r.backwardMs() + r.optimizerMs(),
            org.assertj.core.data.Offset.offset(1e-6));
    assertThat(r.peak().gflops()).isPositive();
    assertThat(r.peak().of()).isEqualTo("the fp32 FMA peak");
    assertThat(r.mfu()).isEqualTo(r.gflops() / r.peak().gflops());
    assertThat(r.gflops())
        .isCloseTo(
            r.tokensPerSec() * c.trainingFlopsPerToken(32) / 1e9,
            org.assertj.core.data.Offset.offset(1e-9));
    assertThat(r.lastLoss()).isCloseTo(Math.log(512), org.assertj.core.data.Offset.offset(0.5));
    assertThat(r.profileSeconds().get(TimedKernels.Op.LINEAR_FORWARD)).isPositive();
    assertThat(r.profileSeconds().get(TimedKernels.Op.ADAMW)).isPositive();
    assertThat(log).anyMatch(l -> l.startsWith("timed step 3"));
    String twice =
        log.stream()
            .filter(l -> l.startsWith("peak measured before and after the steps: "))
            .findFirst()
            .orElseThrow();
    double[] both =
        java.util.regex.Pattern.compile("\\d+\\.\\d")
            .matcher(twice)
            .results()
            .mapToDouble(m -> Double.parseDouble(m.group()))
            .toArray();
    assertThat(both).hasSize(2);
    assertThat(r.peak().gflops()).isCloseTo(Math.max(both[0], both[1]), within(0.05));
  }
}
