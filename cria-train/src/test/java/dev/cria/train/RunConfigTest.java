package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.train.checkpoint.Checkpoints;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunConfigTest {
  @TempDir Path tmp;

  private Map<String, Object> flags(Object... keysAndValues) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("run_dir", tmp.resolve("run").toString());
    m.put("data.data_prefix", List.of("a_text_document"));
    for (int i = 0; i < keysAndValues.length; i += 2) {
      m.put((String) keysAndValues[i], keysAndValues[i + 1]);
    }
    return m;
  }

  @Test
  void flagsOverrideTheFileWhichOverridesTheDefaults() throws IOException {
    Path yaml = tmp.resolve("run.yaml");
    Files.writeString(yaml, "trainer: {max_steps: 50, seed: 7}\noptim: {lr: 2.0e-3}\n");
    TrainConfig c =
        RunConfig.resolve(
            new RunConfig.Request(
                yaml,
                flags("trainer.max_steps", 60L, "trainer.micro_batch_size", null),
                false,
                false,
                null,
                null));
    assertThat(c.trainer().maxSteps()).isEqualTo(60);
    assertThat(c.trainer().seed()).isEqualTo(7);
    assertThat(c.optim().lr()).isEqualTo(2e-3);
    assertThat(c.trainer().microBatchSize()).isEqualTo(4); // the default: a null flag was not given
  }

  @Test
  void aContinuedRunStartsFromItsNewestCheckpointsConfigWithoutTheMachinesThreads()
      throws IOException {
    Path step = Checkpoints.stepDirectory(tmp.resolve("run"), 10);
    Files.createDirectories(step);
    Files.writeString(
        step.resolve("config.yaml"),
        """
        run_dir: %s
        data: {data_prefix: [saved_text_document]}
        trainer: {max_steps: 300, threads: 1, backend: reference}
        """
            .formatted(tmp.resolve("run")));
    Files.writeString(
        tmp.resolve("run/config.yaml"), "trainer: {max_steps: 5}\n"); // a failed attempt's
    Map<String, Object> bare = new LinkedHashMap<>();
    bare.put("run_dir", tmp.resolve("run").toString());
    TrainConfig c = RunConfig.resolve(new RunConfig.Request(null, bare, true, false, null, null));
    assertThat(c.data().dataPrefix()).containsExactly("saved_text_document");
    assertThat(c.trainer().maxSteps()).isEqualTo(300);
    assertThat(c.trainer().threads()).isZero();
    assertThat(c.trainer().backend()).isEqualTo("reference");
    TrainConfig fresh =
        RunConfig.resolve(new RunConfig.Request(null, flags(), false, true, null, null));
    assertThat(fresh.trainer().maxSteps())
        .isEqualTo(100); // --overwrite: the saved config is not read
  }

  @Test
  void contradictoryStartsAreRefused() throws IOException {
    // a checkpoint of the run (its files as far as the config is concerned)
    Path step10 = tmp.resolve("run/checkpoints/step-10");
    Files.createDirectories(step10);
    Files.writeString(step10.resolve("manifest.json"), "{}");
    Files.writeString(step10.resolve("config.yaml"), "{}\n");
    assertThatThrownBy(() ->
            RunConfig.resolve(
                new RunConfig.Request(
                    null, flags(), true, false, tmp.resolve("x"), tmp.resolve("hf"))))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("exclude each other");
    assertThatThrownBy(() ->
            RunConfig.resolve(new RunConfig.Request(null, flags(), false, true, step10, null)))
        .hasMessageContaining("--overwrite would delete");
    assertThatThrownBy(() ->
            RunConfig.resolve(
                new RunConfig.Request(null, flags(), true, false, tmp.resolve("nothing"), null)))
        .hasMessageContaining("neither a checkpoint");
    assertThatThrownBy(() ->
            RunConfig.resolve(
                new RunConfig.Request(
                    null, flags("trainer.backend", "cuda"), false, false, null, null)))
        .hasMessageContaining("trainer.backend 'cuda' is not one of auto, cpu, reference");
  }
}
