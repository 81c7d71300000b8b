package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.io.SafetensorsFile;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.GradientClipping;
import dev.cria.engine.optim.LearningRateSchedule;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The whole model against PyTorch (fixtures made by {@code tools/make_llama_fixtures.py} with
 * Debian's python3-torch): logits, loss and every gradient for one batch from the same weights, and
 * the parameters after three AdamW steps with clipping and a warmup-cosine schedule. Both kernel
 * sets, and activation recompute, must agree to fp32 accumulation-order noise.
 */
class PyTorchFixtureTest {
  static final Path FIXTURE = Path.of("src/test/resources/fixtures/llama-small-gqa");
  static Backend cpu;
  static Backend reference;

  @BeforeAll
  static void start() {
    cpu = Backends.open("cpu", 2);
    reference = Backends.open("reference", 1);
  }

  @AfterAll
  static void stop() {
    cpu.close();
    reference.close();
  }

  record Setup(String name, boolean recompute) {
    Backend backend() {
      return name.equals("reference") ? reference : cpu;
    }

    @Override
    public String toString() {
      return name + (recompute ? "+recompute" : "");
    }
  }

  static List<Setup> setups() {
    return List.of(new Setup("reference", false), new Setup("cpu", false), new Setup("cpu", true));
  }

  static JsonNode json(String file) {
    return JsonMapper.builder().build().readTree(FIXTURE.resolve(file).toFile());
  }

  static int[] flatten(JsonNode rows) {
    List<Integer> out = new ArrayList<>();
    rows.forEach(r -> r.forEach(v -> out.add(v.intValue())));
    return out.stream().mapToInt(Integer::intValue).toArray();
  }

  static LlamaConfig config(JsonNode c) {
    JsonNode m = c.get("model");
    return new LlamaConfig(
        m.get("dim").intValue(),
        m.get("n_layers").intValue(),
        m.get("n_heads").intValue(),
        m.get("n_kv_heads").intValue(),
        m.get("ffn_dim").intValue(),
        m.get("vocab_size").intValue(),
        (float) m.get("norm_eps").doubleValue(),
        (float) m.get("rope_theta").doubleValue(),
        4096);
  }

  /** max |a - e| / max |e|: the error relative to the tensor's scale. */
  static double relativeError(float[] actual, float[] expected) {
    double scale = 1e-12;
    double worst = 0;
    for (int i = 0; i < expected.length; i++) {
      scale = Math.max(scale, Math.abs(expected[i]));
      worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    }
    return worst / scale;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("setups")
  void matchesPyTorch(Setup setup) throws Exception {
    JsonNode cfg = json("config.json");
    JsonNode batch = json("batch.json");
    LlamaConfig config = config(cfg);
    int b = batch.get("tokens").size();
    int t = batch.get("tokens").get(0).size();
    int[] tokens = flatten(batch.get("tokens"));
    int[] targets = flatten(batch.get("targets"));
    JsonNode opt = cfg.get("optimizer");
    JsonNode sched = cfg.get("schedule");

    try (SafetensorsFile weights = SafetensorsFile.open(FIXTURE.resolve("weights.safetensors"));
        SafetensorsFile expected = SafetensorsFile.open(FIXTURE.resolve("outputs.safetensors"));
        LlamaModel model = new LlamaModel(config, setup.backend(), b, t, setup.recompute())) {
      for (ParameterLayout.Tensor tensor : model.layout().tensors()) {
        weights.read(tensor.name(), model.parameters().segment(), tensor.offset());
      }
      model.forward(tokens, null, 1f);
      assertThat(relativeError(model.logits(), expected.readFloats("logits")))
          .as("logits")
          .isLessThan(1e-4);

      model.zeroGradients();
      double loss = model.forward(tokens, targets, 1f);
      assertThat(loss)
          .as("loss")
          .isCloseTo(expected.readFloats("loss")[0], org.assertj.core.data.Offset.offset(1e-4));
      model.backward();
      for (ParameterLayout.Tensor tensor : model.layout().tensors()) {
        float[] actual = model.gradients().toArray(tensor.offset(), Math.toIntExact(tensor.size()));
        assertThat(relativeError(actual, expected.readFloats("grad." + tensor.name())))
            .as("gradient of %s", tensor.name())
            .isLessThan(1e-3);
      }

      // Three AdamW steps on the same batch, clipping and the schedule as in the fixture.
      Kernels kernels = setup.backend().kernels();
      LearningRateSchedule schedule =
          new LearningRateSchedule.WarmupCosine(
              sched.get("max_lr").doubleValue(),
              sched.get("min_lr").doubleValue(),
              sched.get("warmup_steps").longValue(),
              sched.get("max_steps").longValue());
      float[] losses = expected.readFloats("losses");
      float[] norms = expected.readFloats("grad_norms");
      try (AdamW adam =
          new AdamW(
              model.layout(),
              new AdamW.Settings(
                  opt.get("betas").get(0).doubleValue(),
                  opt.get("betas").get(1).doubleValue(),
                  opt.get("eps").doubleValue(),
                  opt.get("weight_decay").doubleValue()),
              setup.backend())) {
        for (int step = 0; step < 3; step++) {
          model.zeroGradients();
          double stepLoss = model.forward(tokens, targets, 1f);
          model.backward();
          double norm =
              GradientClipping.clip(
                  kernels, model.gradients(), opt.get("clip_grad_norm").doubleValue());
          assertThat(stepLoss)
              .as("loss before step %d", step)
              .isCloseTo(losses[step], org.assertj.core.data.Offset.offset(2e-4));
          assertThat(norm)
              .as("gradient norm at step %d", step)
              .isCloseTo(norms[step], org.assertj.core.data.Percentage.withPercentage(0.05));
          adam.step(model.parameters(), model.gradients(), schedule.at(step));
        }
      }
      // Adam divides by sqrt(v): where a gradient is tiny, its accumulation-order noise moves the
      // update by up to lr, so the tolerance after three steps is a little wider than for
      // gradients.
      for (ParameterLayout.Tensor tensor : model.layout().tensors()) {
        float[] actual =
            model.parameters().toArray(tensor.offset(), Math.toIntExact(tensor.size()));
        assertThat(relativeError(actual, expected.readFloats("step3." + tensor.name())))
            .as("parameters of %s after 3 steps", tensor.name())
            .isLessThan(5e-4);
      }
    }
  }
}
